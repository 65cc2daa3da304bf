package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOwnerTheLookupCannotSee: the gateway's service credential cannot see
// octo-org/hidden (an App installation that does not cover it, or a token
// without access). Its lookups answer 404. The attacker's classic PAT,
// which octo-org restricts, asks for it by id, where the path names no
// owner: the decision used to look up the organization "" and allow.
// An owner the lookup cannot learn is undetermined, and refused.
func TestOwnerTheLookupCannotSee(t *testing.T) {
	g, host := newGateway(t, "")
	if err := host.AddRepoID(9001, "octo-org", "hidden", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	host.SetHidden("octo-org/hidden", true)
	for _, tc := range []struct {
		story, method, path, token string
		want                       int
	}{
		{"read by id", "GET", "/api/v3/repositories/9001", tokClassic, 403},
		{"an issue written by id", "POST", "/api/v3/repositories/9001/issues", tokClassic, 403},
		{"a collaborator added by id", "PUT", "/api/v3/repositories/9001/collaborators/mallory", tokClassic, 403},
		// By name, a repository the lookup cannot see counts as its
		// organization's private one.
		{"read by name", "GET", "/api/v3/repos/octo-org/hidden", tokClassic, 403},
		// Tokens no policy restricts are not asked about at all.
		{"an OAuth token", "GET", "/api/v3/repositories/9001", tokOAuth, 200},
	} {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			resp := g.do(t, tc.method, tc.path, "", "Authorization", "token "+tc.token)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 403 && host.Count() != before {
				t.Fatal("the request reached the host")
			}
		})
	}
}

// TestSecretsThatExpandToNothing: an operator writes webhook_secret
// {env.PATGATE_WEBHOOK_SECRET} and the variable is not set in the
// service's environment. The placeholder passed validation and became the
// empty key, with which anyone can sign a delivery that flushes every
// cache. Every secret and key is now checked after expansion, and Caddy
// refuses to load such a config.
func TestSecretsThatExpandToNothing(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(feed, []byte(feedV1()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		story, body, says string
	}{
		{"webhook secret", "webhook_path /hook\n\t\twebhook_secret {env.PATGATE_TEST_UNSET}", "webhook_secret expands to nothing"},
		{"webhook secret of spaces", "webhook_path /hook\n\t\twebhook_secret \"{env.PATGATE_TEST_UNSET}  \"", "webhook_secret expands to nothing"},
		{"feed key", "feed_key {env.PATGATE_TEST_UNSET}", "feed_key expands to nothing"},
		{"GitHub App key", "lookup_app 1 2 {env.PATGATE_TEST_UNSET}", "private key file expands to nothing"},
	} {
		t.Run(tc.story, func(t *testing.T) {
			cfg := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:0 {
	pat_policy {
		feed %s
		feed_cache off
		lookup http://127.0.0.1:1/api/v3
		%s
	}
	respond "upstream"
}
`, feed, tc.body)
			path := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("caddy validate accepted the config:\n%s", out)
			}
			if !strings.Contains(string(out), tc.says) {
				t.Fatalf("caddy validate did not say %q:\n%s", tc.says, out)
			}
		})
	}
}

// TestWeakSettingsAreLoud: every setting that weakens enforcement is
// logged at WARN when the config loads, so none goes unnoticed.
func TestWeakSettingsAreLoud(t *testing.T) {
	host := newGitHost(t)
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	g := startGateway(t, host.hostPort(), fmt.Sprintf(`feed %s/policy.json
		lookup %s/api/v3
		mode report
		fail_open
		report_organizations octo-org`, dir, host.URL))
	for _, want := range []string{"mode report", "fail_open", "report_organizations", "lookup_token is empty"} {
		g.waitLog(t, want, regexp.MustCompile(`"level":"warn".*`+regexp.QuoteMeta(want)))
	}
}
