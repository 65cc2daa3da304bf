package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestCaddyfileAdapt adapts each testdata/*.caddyfiletest (a Caddyfile, a
// line of ten dashes, then the JSON it must adapt to, or "error: <text>")
// as `caddy adapt` does.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatal("fixture lacks the ---------- separator")
			}
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(in), map[string]any{"filename": f})
			if wantErr, isErr := strings.CutPrefix(strings.TrimSpace(want), "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("error %v, want one containing %q", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, exp bytes.Buffer
			if err := json.Indent(&got, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			if err := json.Indent(&exp, []byte(strings.TrimSpace(want)), "", "\t"); err != nil {
				t.Fatalf("fixture JSON: %v", err)
			}
			if got.String() != exp.String() {
				t.Errorf("adapted to\n%s\nwant\n%s", got.String(), exp.String())
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"argument on the directive", "pat_policy x {\n}", "wrong argument count"},
		{"unknown subdirective", "pat_policy {\n feeds x\n}", `unknown subdirective "feeds"`},
		{"missing value", "pat_policy {\n feed\n}", "wrong argument count"},
		{"two values", "pat_policy {\n lookup a b\n}", "wrong argument count"},
		{"bad mode", "pat_policy {\n mode audit\n}", `mode "audit"`},
		{"bad duration", "pat_policy {\n cache_ttl soon\n}", "cache_ttl"},
		{"negative duration", "pat_policy {\n feed_refresh -1s\n}", "feed_refresh"},
		{"bad cache size", "pat_policy {\n cache_size many\n}", "cache_size"},
		{"fail_open takes no value", "pat_policy {\n fail_open yes\n}", "wrong argument count"},
		{"feed_client_cert needs two files", "pat_policy {\n feed_client_cert c.pem\n}", "wrong argument count"},
		{"a subdirective given twice", "pat_policy {\n feed a\n feed b\n}", "feed is given twice"},
		{"a flag given twice", "pat_policy {\n fail_open\n fail_open\n}", "fail_open is given twice"},
		{"report_organizations given twice", "pat_policy {\n report_organizations a\n report_organizations b\n}", "report_organizations is given twice"},
		{"bad cache bytes", "pat_policy {\n cache_bytes lots\n}", "cache_bytes"},
		{"bad inbox size", "pat_policy {\n inbox_size 0\n}", `inbox_size "0"`},
		{"bad inbox organizations", "pat_policy {\n inbox_organizations lots\n}", `inbox_organizations "lots"`},
		{"bad inbox ttl", "pat_policy {\n inbox_ttl forever\n}", "inbox_ttl"},
		{"the webhook moved out", "pat_policy {\n webhook_path /hook\n}", "pat_policy_webhook"},
		{"invalidation_redis moved out", "pat_policy {\n invalidation_redis redis://x\n}", "pat_policy_webhook"},
		{"lookup_app needs three values", "pat_policy {\n lookup_app 1 2\n}", "wrong argument count"},
		{"lookup_app ids are numbers", "pat_policy {\n lookup_app one 2 key.pem\n}", "numeric app id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWebhookCaddyfile(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"unknown subdirective", "pat_policy_webhook {\n path /x\n}", `unknown subdirective "path"`},
		{"secret twice", "pat_policy_webhook {\n secret a\n secret b\n}", "secret is given twice"},
		{"redis takes one or two values", "pat_policy_webhook {\n redis\n}", "wrong argument count"},
		{"secret takes one value", "pat_policy_webhook {\n secret a b\n}", "wrong argument count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var wh Webhook
			err := wh.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	var wh Webhook
	if err := wh.UnmarshalCaddyfile(caddyfile.NewTestDispenser("pat_policy_webhook {\n secret {env.S}\n redis redis://r:6379/0 ch\n}")); err != nil {
		t.Fatal(err)
	}
	if wh.Secret != "{env.S}" || wh.Redis != "redis://r:6379/0" || wh.Channel != "ch" {
		t.Fatalf("parsed %+v", wh)
	}
	if err := (&Webhook{}).Validate(); err == nil {
		t.Fatal("a receiver without a secret validated")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string
	}{
		{"no feed", Handler{Lookup: "http://x"}, "feed is required"},
		{"no lookup", Handler{Feed: "f"}, "lookup is required"},
		{"bad mode", Handler{Feed: "f", Lookup: "http://x", Mode: "audit"}, "mode"},
		{"good", Handler{Feed: "f", Lookup: "http://x", Mode: ModeReport}, ""},
		{"client cert without key", Handler{Feed: "f", Lookup: "http://x", FeedClientCert: "c"}, "feed_client_cert"},
		{"token and app", Handler{Feed: "f", Lookup: "http://x", LookupToken: "t", LookupApp: &LookupApp{AppID: 1, InstallationID: 2, PrivateKeyFile: "k"}}, "choose one"},
		{"app without key", Handler{Feed: "f", Lookup: "http://x", LookupApp: &LookupApp{AppID: 1, InstallationID: 2}}, "private key file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
