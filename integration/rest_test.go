package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Test tokens. They are fake; their fingerprints go into the feeds below.
const (
	tokClassic       = "ghp_integrationClassicToken0000000000001"
	tokApproved      = "github_pat_11INTEGRATION_approvedFineGrainedToken"
	tokPending       = "github_pat_11INTEGRATION_pendingFineGrainedToken0"
	tokNoRecord      = "github_pat_11INTEGRATION_noRecordFineGrainedToken"
	tokOwner         = "github_pat_11INTEGRATION_orgOwnerFineGrainedToken"
	tokOwnerFromHost = "github_pat_11INTEGRATION_ownerFromHostFineGrained"
	tokOAuth         = "gho_integrationOAuthToken000000000000001"
)

func init() {
	registerTokens(tokClassic, tokApproved, tokPending, tokNoRecord, tokOwner, tokOwnerFromHost, tokOAuth, serviceToken)
}

// feedV1: octo-org restricts classic PATs and requires approval of
// fine-grained ones (alice owns it); open-org allows both without approval;
// locked-org restricts both; the enterprise leaves everything to its
// organizations.
func feedV1() string {
	return fmt.Sprintf(`{
  "version": 1,
  "enterprise": {"slug": "acme"},
  "organizations": [
    {"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}, "owners": ["alice"]},
    {"login": "open-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}},
    {"login": "locked-org", "fine_grained": {"access": "restrict"}, "classic": {"access": "restrict"}}
  ],
  "tokens": [
    {"sha256": %q, "owner": "carol", "organizations": {"octo-org": "approved"}},
    {"sha256": %q, "owner": "dave", "organizations": {"octo-org": "pending"}},
    {"sha256": %q, "owner": "alice"}
  ]
}`, sha(tokApproved), sha(tokPending), sha(tokOwner))
}

// feedV2 restricts both PAT classes at enterprise level, which no
// organization can override.
func feedV2() string {
	return strings.Replace(strings.Replace(feedV1(), `"version": 1`, `"version": 2`, 1),
		`"enterprise": {"slug": "acme"}`,
		`"enterprise": {"slug": "acme", "fine_grained": {"opted_in": true, "access": "restrict"}, "classic": {"access": "restrict"}}`, 1)
}

func writeFeed(t *testing.T, dir, body string) {
	t.Helper()
	// Write then rename, as a feed publisher should, so the gateway never
	// reads half a file.
	tmp := filepath.Join(dir, "policy.json.tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "policy.json")); err != nil {
		t.Fatal(err)
	}
}

func policyBody(extra string) string {
	return `feed {dir}/policy.json
		feed_refresh 50ms
		lookup ` + "%s" + `/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
		` + extra
}

// newGateway starts a fake host and a gateway in front of it with feed v1.
func newGateway(t *testing.T, extra string) (*gateway, *testHost) {
	t.Helper()
	host := newGitHost(t)
	host.SetUser(tokNoRecord, "nora")
	host.SetUser(tokOwnerFromHost, "alice")
	body := fmt.Sprintf(policyBody(extra), host.URL)
	// The feed must exist before Caddy starts, so write it into a dir
	// we pick and point the config at it.
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	body = strings.ReplaceAll(body, "{dir}", dir)
	g := startGateway(t, host.hostPort(), body)
	g.Dir = dir
	return g, host
}

type tokenCase struct {
	name, token string
}

var matrixTokens = []tokenCase{
	{"classic", tokClassic},
	{"fine-grained approved", tokApproved},
	{"fine-grained pending", tokPending},
	{"fine-grained without record", tokNoRecord},
	{"fine-grained of org owner (feed)", tokOwner},
	{"fine-grained of org owner (host)", tokOwnerFromHost},
	{"oauth", tokOAuth},
	{"anonymous", ""},
}

// checkMatrix sends each request with each token and compares the status
// with the expected column: one status per matrixTokens entry.
func checkMatrix(t *testing.T, g *gateway, host *testHost, rows []matrixRow) {
	t.Helper()
	for _, row := range rows {
		want := strings.Fields(row.want)
		if len(want) != len(matrixTokens) {
			t.Fatalf("%s %s: %d expectations for %d tokens", row.method, row.path, len(want), len(matrixTokens))
		}
		for i, tc := range matrixTokens {
			t.Run(row.method+" "+row.path+"/"+tc.name, func(t *testing.T) {
				var headers []string
				if tc.token != "" {
					headers = []string{"Authorization", "token " + tc.token}
				}
				before := host.Count()
				resp := g.do(t, row.method, row.path, row.body, headers...)
				body, _ := io.ReadAll(resp.Body)
				if got := fmt.Sprint(resp.StatusCode); got != want[i] {
					t.Fatalf("status %s, want %s; body %s", got, want[i], body)
				}
				switch resp.StatusCode {
				case http.StatusOK:
					// Forwarded unchanged: same method, path, body, credential.
					f, n := host.Last()
					if n != before+1 || f.Method != row.method || f.Path != row.path || f.Body != row.body || f.AuthSHA != sha(strings.Join(headers[min(1, len(headers)):], "")) {
						t.Fatalf("forwarded %+v (count %d→%d), want %s %s", f, before, n, row.method, row.path)
					}
				case http.StatusForbidden:
					if host.Count() != before {
						t.Fatal("a refused request reached the upstream")
					}
					var e struct{ Message, Documentation_URL, Status string }
					if err := json.Unmarshal(body, &e); err != nil || e.Status != "403" || !strings.Contains(e.Message, row.subject) {
						t.Fatalf("403 body %s does not name %q (%v)", body, row.subject, err)
					}
					if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
						t.Errorf("content type %q", ct)
					}
				}
			})
		}
	}
}

type matrixRow struct {
	method, path, body string
	// want holds one status per token of matrixTokens:
	// classic, approved, pending, no record, owner (feed), owner (host), oauth, anonymous.
	want    string
	subject string
}

func TestRESTPolicyMatrix(t *testing.T) {
	g, host := newGateway(t, "")
	const (
		likePrivate = "403 200 403 403 200 200 200 200"
		allOK       = "200 200 200 200 200 200 200 200"
	)
	checkMatrix(t, g, host, []matrixRow{
		{method: "GET", path: "/api/v3/repos/octo-org/private", want: likePrivate, subject: "`octo-org`"},
		{method: "POST", path: "/api/v3/repos/octo-org/private/issues", body: `{"title":"x"}`, want: likePrivate, subject: "`octo-org`"},
		{method: "GET", path: "/api/v3/repos/octo-org/internal", want: likePrivate, subject: "`octo-org`"},
		{method: "GET", path: "/api/v3/repos/Octo-Org/Private/contents/README.md", want: likePrivate, subject: "`octo-org`"},
		{method: "GET", path: "/api/v3/repos/octo-org/does-not-exist", want: likePrivate, subject: "`octo-org`"},
		{method: "GET", path: "/api/v3/repos/octo-org/public", want: allOK},
		{method: "GET", path: "/api/v3/repos/octo-org/public/contents/README.md", want: allOK},
		{method: "POST", path: "/api/v3/repos/octo-org/public/issues", body: `{"title":"x"}`, want: likePrivate, subject: "`octo-org`"},
		{method: "GET", path: "/api/v3/repos/octo-org/public/hooks", want: likePrivate, subject: "`octo-org`"},
		{method: "GET", path: "/api/v3/repos/bob/private", want: allOK},
		{method: "POST", path: "/api/v3/repos/bob/private/issues", body: `{"title":"x"}`, want: allOK},
		{method: "GET", path: "/api/v3/users/bob", want: allOK},
		{method: "GET", path: "/api/v3/orgs/octo-org", want: allOK},
		{method: "GET", path: "/api/v3/orgs/octo-org/members", want: likePrivate, subject: "`octo-org`"},
		{method: "PATCH", path: "/api/v3/orgs/octo-org", body: `{"name":"x"}`, want: likePrivate, subject: "`octo-org`"},
		{method: "POST", path: "/api/v3/repos/open-org/private/issues", body: `{"title":"x"}`, want: allOK},
		{method: "GET", path: "/api/v3/enterprises/acme/settings/license", want: allOK},
		{method: "GET", path: "/api/v3/meta", want: allOK},
	})
	t.Run("pending token's message says it is pending", func(t *testing.T) {
		resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "Bearer "+tokPending)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "pending") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	// The feed file changes: enterprise-level restrictions, which no
	// organization overrides, take effect without a restart.
	writeFeed(t, g.Dir, feedV2())
	eventually(t, 10*time.Second, func() string {
		resp := g.do(t, "GET", "/api/v3/enterprises/acme/settings/license", "", "Authorization", "token "+tokClassic)
		if resp.StatusCode != 403 {
			return fmt.Sprintf("feed v2 not in force: status %d", resp.StatusCode)
		}
		return ""
	})
	const entRestricted = "403 403 403 403 403 403 200 200"
	checkMatrix(t, g, host, []matrixRow{
		{method: "GET", path: "/api/v3/enterprises/acme/settings/license", want: entRestricted, subject: "`acme`"},
		{method: "GET", path: "/api/v3/admin/users", want: entRestricted, subject: "`acme`"},
		{method: "POST", path: "/api/v3/repos/open-org/private/issues", body: `{"title":"x"}`, want: entRestricted, subject: "`open-org`"},
		{method: "GET", path: "/api/v3/repos/octo-org/public", want: "200 200 200 200 200 200 200 200"},
		{method: "GET", path: "/api/v3/repos/bob/private", want: "200 200 200 200 200 200 200 200"},
	})

	// A malformed feed is rejected and the last good one stays in force.
	writeFeed(t, g.Dir, `{"version": 3, "enterprise": {"classic": {"access": "allow-ish"}}}`)
	eventually(t, 10*time.Second, func() string {
		if !strings.Contains(g.logs.String(), "allow-ish") {
			return "the malformed feed's rejection was not logged"
		}
		return ""
	})
	resp := g.do(t, "GET", "/api/v3/enterprises/acme/settings/license", "", "Authorization", "token "+tokClassic)
	if resp.StatusCode != 403 {
		t.Errorf("after a malformed feed: status %d, want 403 from the kept feed v2", resp.StatusCode)
	}
}

// TestSecondResourceMustBelong: open-org allows classic PATs, octo-org does
// not. An attacker names open-org in the path and octo-org's repository by
// id further on, hoping open-org's policy decides for octo-org's
// repository: the gateway refuses, since the repository is not open-org's.
func TestSecondResourceMustBelong(t *testing.T) {
	g, host := newGateway(t, "")
	if err := host.AddRepoID(4242, "octo-org", "secret", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	if err := host.AddRepoID(4243, "open-org", "tools", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want int
	}{
		{"/api/v3/orgs/open-org/actions/permissions/repositories/4242", 403},
		{"/api/v3/orgs/open-org/actions/permissions/repositories/4243", 200},
		{"/api/v3/orgs/open-org/teams/core/repos/octo-org/secret", 403},
		{"/api/v3/orgs/open-org/teams/core/repos/open-org/tools", 200},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp := g.do(t, "PUT", tc.path, "", "Authorization", "token "+tokClassic)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 403 && !strings.Contains(string(body), "`open-org` does not own") {
				t.Errorf("message %s", body)
			}
		})
	}
}
