package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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

// TestSecretsThatExpandToNothing: an operator writes the webhook's secret
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
		story, body, site, says string
	}{
		{"webhook secret", "", "pat_policy_webhook /hook {\n\t\tsecret {env.PATGATE_TEST_UNSET}\n\t}", "secret expands to nothing"},
		{"webhook secret of spaces", "", "pat_policy_webhook /hook {\n\t\tsecret \"{env.PATGATE_TEST_UNSET}  \"\n\t}", "secret expands to nothing"},
		{"feed key", "feed_key {env.PATGATE_TEST_UNSET}", "", "feed_key expands to nothing"},
		{"GitHub App key", "lookup_app 1 2 {env.PATGATE_TEST_UNSET}", "", "private key file expands to nothing"},
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
	%s
	respond "upstream"
}
`, feed, tc.body, tc.site)
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

// TestFailOpenIsNotTheClientsChoice: on a fail_open site, the attacker's
// GraphQL document first names a repository whose lookup fails on purpose
// (a name the host answers 502 for, or one it refuses with 414), then
// octo-org's private repository. The decision used to stop at the first
// failure, and fail_open forwarded the whole document. Every target is now
// decided: a refusal of one wins over a failed lookup of another, and a
// failure the request provoked (a 4xx other than 404) is a refusal, not
// an outage.
func TestFailOpenIsNotTheClientsChoice(t *testing.T) {
	g, host := newGateway(t, "fail_open")
	host.SetFailing("octo-org/broken", true)
	if err := host.AddRepo("octo-org", "longname", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	host.SetLookupStatus("octo-org/longname", 414)
	doc := func(names ...string) string {
		var b strings.Builder
		b.WriteString("{")
		for i, n := range names {
			fmt.Fprintf(&b, ` r%d: repository(owner: "octo-org", name: %q) { id }`, i, n)
		}
		b.WriteString(" }")
		return gqlBody(t, b.String(), nil)
	}
	for _, tc := range []struct {
		story string
		body  string
		want  int
		says  string
	}{
		{"an outage picked before the private repository", doc("broken", "private"), 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"an outage picked after it", doc("private", "broken"), 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"a lookup the host refuses, then the private repository", doc("longname", "private"), 403, "restricts access via a personal access token (classic)"},
		{"a lookup the host refuses, alone", doc("longname"), 403, "the host would not answer a lookup"},
		// The control: a real outage alone is what fail_open is for.
		{"an outage alone", doc("broken"), 200, ""},
	} {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			resp := g.do(t, "POST", "/api/graphql", tc.body, "Authorization", "bearer "+tokClassic)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.says) {
				t.Fatalf("status %d, want %d saying %q: %s", resp.StatusCode, tc.want, tc.says, body)
			}
			if tc.want == 403 && host.Count() != before {
				t.Fatal("the document reached the host")
			}
		})
	}
	// explain says what the handler does with each under fail_open.
	for _, tc := range []struct{ repo, decision, says string }{
		{"broken", "unavailable", "fail_open: the lookup failed as an outage, so the handler forwards"},
		{"longname", "deny", "the request provoked it, so it is refused even under fail_open"},
	} {
		body := fmt.Sprintf(`{"method":"GET","url":"https://git.example.com/api/v3/repos/octo-org/%s","token_fingerprint":%q,"token_class":"classic"}`, tc.repo, sha(tokClassic))
		resp, err := http.Post(g.Admin+"/pat-policy/explain", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out []struct {
			Decision string
			Lines    []string
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || len(out) != 1 || out[0].Decision != tc.decision || !strings.Contains(strings.Join(out[0].Lines, "\n"), tc.says) {
			t.Errorf("explain %s: %v %+v, want %s saying %q", tc.repo, err, out, tc.decision, tc.says)
		}
	}
}

// TestLookupRedirectsStayHome: the lookup of octo-org/moved answers a 301
// to another port. The lookup client followed it and re-sent the service
// credential there, and trusted that server's answer. The only redirect a
// lookup follows is to /repositories/{id} on the host itself; any other
// fails the lookup, and since no outage causes it, the request is refused
// even under fail_open. The other server hears nothing.
func TestLookupRedirectsStayHome(t *testing.T) {
	g, host := newGateway(t, "fail_open")
	var elsewhere atomicCount
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.add()
		fmt.Fprint(w, `{"id":1,"owner":{"login":"bob","type":"User"},"visibility":"public"}`)
	}))
	t.Cleanup(other.Close)
	for _, loc := range []string{other.URL + "/api/v3/repositories/1", other.URL + "/api/v3/repos/bob/x", host.URL + "/api/v3/repos/bob/private"} {
		t.Run(loc, func(t *testing.T) {
			host.SetLookupRedirect("octo-org/moved", loc)
			resp := g.do(t, "GET", "/api/v3/repos/octo-org/moved", "", "Authorization", "token "+tokClassic)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 403 || !strings.Contains(string(body), "would not answer a lookup") {
				t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
			}
			if elsewhere.get() != 0 {
				t.Fatal("the lookup went to another server")
			}
		})
	}
}

// TestLongNameFlood: the review sent 600 documents naming 16 repositories
// of 60 KB names each, and the process grew from 115 to 408 MB as each
// name became a lookup and a cache entry. No host accepts such a name, so
// the documents are refused with 400 before any lookup.
func TestLongNameFlood(t *testing.T) {
	g, host := newGateway(t, "")
	name := strings.Repeat("n", 60<<10)
	var b strings.Builder
	b.WriteString("{")
	for i := range 16 {
		fmt.Fprintf(&b, ` r%d: repository(owner: "octo-org", name: "%s%d") { id }`, i, name, i)
	}
	b.WriteString(" }")
	body := gqlBody(t, b.String(), nil)
	lookups := host.Lookups()
	for range 20 {
		resp := g.do(t, "POST", "/api/graphql", body, "Authorization", "bearer "+tokClassic)
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(msg), "longer than 100 characters") {
			t.Fatalf("status %d: %.300s", resp.StatusCode, msg)
		}
	}
	if host.Lookups() != lookups {
		t.Fatalf("%d lookups for names no host accepts", host.Lookups()-lookups)
	}
}

// atomicCount counts requests a test server saw.
type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCount) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
