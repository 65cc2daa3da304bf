package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/patgate/patgate/policyfeed"
)

func TestFeedMaxSizeCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    int64
		wantErr string
	}{
		{name: "bytes", input: "feed_max_size 1048576", want: 1 << 20},
		{name: "binary unit", input: "feed_max_size 256MiB", want: 256 << 20},
		{name: "decimal unit", input: "feed_max_size 64MB", want: 64_000_000},
		{name: "lowercase unit", input: "feed_max_size 1gib", want: 1 << 30},
		{name: "zero", input: "feed_max_size 0", wantErr: `feed_max_size "0": want a size`},
		{name: "not a size", input: "feed_max_size lots", wantErr: `feed_max_size "lots": want a size`},
		{name: "past int64", input: "feed_max_size 16EiB", wantErr: `feed_max_size "16EiB"`},
		{name: "missing", input: "feed_max_size", wantErr: "wrong argument count"},
		{name: "two values", input: "feed_max_size 256 MiB", wantErr: "wrong argument count"},
		// Repeated, which value holds would depend on the order of the
		// lines: a config that says two things is refused.
		{name: "repeated", input: "feed_max_size 64MiB\n feed_max_size 64MiB", wantErr: "feed_max_size is given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("pat_policy {\n " + tc.input + "\n}"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || h.FeedMaxSize != tc.want {
				t.Fatalf("FeedMaxSize = %d (%v), want %d", h.FeedMaxSize, err, tc.want)
			}
		})
	}
}

// TestFeedSettingsMaxSize: the bound is part of the feed's settings, so a
// reload that changes it starts a feed with the new one; the default is
// left out of them, so that configs which do not set it keep sharing the
// feed they had.
func TestFeedSettingsMaxSize(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		want    int64
		wantErr string
	}{
		{name: "unset", size: 0, want: 0},
		{name: "the default spelled out", size: policyfeed.DefaultMaxSize, want: 0},
		{name: "set", size: 64 << 20, want: 64 << 20},
		{name: "negative in JSON", size: -1, wantErr: "feed_max_size -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Handler{Feed: "/etc/patgate/policy.json", FeedCache: "off", FeedMaxSize: tc.size}
			s, _, err := h.feedSettings(caddy.NewReplacer())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || s.MaxSize != tc.want {
				t.Fatalf("MaxSize = %d (%v), want %d", s.MaxSize, err, tc.want)
			}
		})
	}
}

// TestStartFeedMaxSize: the configured bound reaches the running feed: a
// feed one byte over it is refused, and the gateway starts without a feed
// (503 for PAT requests to enterprise resources) rather than with it.
func TestStartFeedMaxSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	feed := []byte(`{"version": 1}`)
	if err := os.WriteFile(path, feed, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		max      int64
		wantFeed bool
	}{
		{name: "at the bound", max: int64(len(feed)), wantFeed: true},
		{name: "one byte over", max: int64(len(feed)) - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Handler{Feed: path, FeedCache: "off", FeedRefresh: caddy.Duration(time.Hour), FeedMaxSize: tc.max}
			s, keyPEM, err := h.feedSettings(caddy.NewReplacer())
			if err != nil {
				t.Fatal(err)
			}
			f, key, err := startFeed(s, keyPEM, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer feeds.Delete(key)
			if got := f.store.Load() != nil; got != tc.wantFeed {
				t.Errorf("feed loaded: %v, want %v", got, tc.wantFeed)
			}
		})
	}
}
