package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape returns the value of one sample of Caddy's /metrics, -1 if absent.
func scrape(t *testing.T, admin, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for k, v := range labels {
			if !strings.Contains(line, k+`="`+v+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return f
	}
	return -1
}

// TestMetrics scrapes the gateway's counters from a running Caddy's
// /metrics after requests of each kind.
func TestMetrics(t *testing.T) {
	g, host := newGateway(t, "")
	host.SetFailing("octo-org/internal", true)
	for _, req := range []struct{ path, tok string }{
		{"/api/v3/repos/octo-org/private", tokClassic},  // deny, miss
		{"/api/v3/repos/octo-org/private", tokClassic},  // deny, hit
		{"/api/v3/repos/octo-org/private", tokApproved}, // allow (approved)
		{"/api/v3/repos/octo-org/internal", tokClassic}, // 503, lookup failed
	} {
		g.do(t, "GET", req.path, "", "Authorization", "token "+req.tok)
	}
	g.do(t, "GET", "/api/v3/repos/octo-org/../x", "", "Authorization", "token "+tokClassic)
	writeFeed(t, g.Dir, `{"version": 2, "organizations": [{"login": "x", "classic": {"access": "nope"}}]}`)
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"caddy_pat_policy_decisions_total", map[string]string{"decision": "deny", "reason": "classic_restricted", "token_class": "classic", "mode": "enforce"}, 2},
		{"caddy_pat_policy_decisions_total", map[string]string{"decision": "allow", "reason": "approved", "token_class": "fine_grained"}, 1},
		{"caddy_pat_policy_decisions_total", map[string]string{"decision": "unavailable", "reason": "lookup_failed"}, 1},
		{"caddy_pat_policy_unavailable_total", map[string]string{"reason": "lookup_failed"}, 1},
		{"caddy_pat_policy_unavailable_total", map[string]string{"reason": "no_feed"}, 0},
		{"caddy_pat_policy_lookup_cache_total", map[string]string{"result": "hit"}, 1},
		{"caddy_pat_policy_lookup_cache_total", map[string]string{"result": "miss"}, 2},
		{"caddy_pat_policy_lookup_duration_seconds_count", map[string]string{"kind": "repository", "result": "ok"}, 1},
		{"caddy_pat_policy_lookup_duration_seconds_count", map[string]string{"kind": "repository", "result": "error"}, 1},
		{"caddy_pat_policy_feed_version", nil, 1},
		{"caddy_pat_policy_feed_last_success_timestamp_seconds", nil, float64(time.Now().Add(-time.Hour).Unix())},
		{"caddy_pat_policy_feed_rejections_total", map[string]string{"reason": "invalid"}, 1},
	}
	eventually(t, 10*time.Second, func() string {
		for _, c := range checks {
			if got := scrape(t, g.Admin, c.name, c.labels); got < c.min {
				return fmt.Sprintf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
			}
		}
		return ""
	})
	// Labels come from bounded sets: no login, repository or token.
	resp, err := http.Get(g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "caddy_pat_policy_") && (strings.Contains(line, "octo-org") || strings.Contains(line, "private")) {
			t.Errorf("a metric label carries a login or repository: %s", line)
		}
	}
}

// TestReportOrganizations: one organization is rolled out in report mode
// (from the Caddyfile, or from the feed) while another stays enforced.
func TestReportOrganizations(t *testing.T) {
	g, host := newGateway(t, "report_organizations octo-org\n\t\tlog_allowed")
	resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
	if resp.StatusCode != 200 || host.Count() != 1 {
		t.Fatalf("octo-org in report mode: status %d, forwarded %d", resp.StatusCode, host.Count())
	}
	if resp := g.do(t, "GET", "/api/v3/repos/locked-org/private", "", "Authorization", "token "+tokClassic); resp.StatusCode != 403 {
		t.Fatalf("locked-org stays enforced: status %d", resp.StatusCode)
	}
	g.waitLog(t, "would_deny record in report mode for octo-org",
		regexp.MustCompile(`"level":"info"[^\n]*"decision":"would_deny","reason":"classic_restricted","mode":"report"[^\n]*"subject":"octo-org"`))
	g.waitLog(t, "enforced deny record for locked-org",
		regexp.MustCompile(`"level":"info"[^\n]*"decision":"deny","reason":"classic_restricted","mode":"enforce"[^\n]*"subject":"locked-org"`))
	g.do(t, "GET", "/api/v3/repos/octo-org/public", "", "Authorization", "token "+tokClassic)
	g.waitLog(t, "log_allowed: the allow record at info",
		regexp.MustCompile(`"level":"info"[^\n]*"decision":"allow","reason":"public_read"`))
	if scrape(t, g.Admin, "caddy_pat_policy_decisions_total", map[string]string{"decision": "would_deny", "mode": "report"}) < 1 {
		t.Error("would_deny not counted")
	}

	// The feed can put an organization in report mode too.
	writeFeed(t, g.Dir, strings.Replace(strings.Replace(feedV1(), `"version": 1`, `"version": 2`, 1),
		`{"login": "locked-org",`, `{"login": "locked-org", "mode": "report",`, 1))
	eventually(t, 10*time.Second, func() string {
		if resp := g.do(t, "GET", "/api/v3/repos/locked-org/private", "", "Authorization", "token "+tokClassic); resp.StatusCode != 200 {
			return fmt.Sprintf("locked-org in report mode from the feed: status %d", resp.StatusCode)
		}
		return ""
	})
}

// TestStatus reads the admin status route.
func TestStatus(t *testing.T) {
	g, _ := newGateway(t, "")
	g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
	g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
	resp, err := http.Get(g.Admin + "/pat-policy/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Feeds []struct {
			Source        string
			Version       int64
			Organizations int
			Tokens        int
			AgeSeconds    float64 `json:"age_seconds"`
		}
		Handlers []struct {
			Mode         string
			CacheHits    int64   `json:"cache_hits"`
			CacheMisses  int64   `json:"cache_misses"`
			CacheHitRate float64 `json:"cache_hit_rate"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Feeds) != 1 || st.Feeds[0].Version != 1 || st.Feeds[0].Organizations != 3 || st.Feeds[0].Tokens != 3 || st.Feeds[0].AgeSeconds <= 0 || !strings.HasSuffix(st.Feeds[0].Source, "policy.json") {
		t.Errorf("feeds: %+v", st.Feeds)
	}
	if len(st.Handlers) != 1 || st.Handlers[0].Mode != "enforce" || st.Handlers[0].CacheHits != 1 || st.Handlers[0].CacheMisses != 1 || st.Handlers[0].CacheHitRate != 0.5 {
		t.Errorf("handlers: %+v", st.Handlers)
	}
}

// explainFeed covers every reason code: the enterprise has not opted in to
// fine-grained PATs, so beta-org (which has not either) is closed to them.
func explainFeed() string {
	return fmt.Sprintf(`{
  "version": 1,
  "enterprise": {"slug": "acme", "fine_grained": {"opted_in": false}},
  "organizations": [
    {"login": "octo-org", "fine_grained": {"opted_in": true, "access": "allow", "approval": "require"}, "classic": {"access": "restrict"}, "owners": ["alice"]},
    {"login": "open-org", "fine_grained": {"opted_in": true, "access": "allow", "approval": "disable"}, "classic": {"access": "allow"}},
    {"login": "locked-org", "fine_grained": {"opted_in": true, "access": "restrict"}, "classic": {"access": "restrict"}},
    {"login": "beta-org"}
  ],
  "tokens": [
    {"sha256": %q, "owner": "carol", "organizations": {"octo-org": "approved", "locked-org": "approved", "beta-org": "approved"}},
    {"sha256": %q, "owner": "dave", "organizations": {"octo-org": "pending"}},
    {"sha256": %q, "owner": "erin", "organizations": {"octo-org": "denied"}},
    {"sha256": %q, "owner": "frank", "organizations": {"octo-org": "revoked"}},
    {"sha256": %q, "owner": "alice"}
  ]
}`, sha(tokApproved), sha(tokPending), sha("github_pat_11INTEGRATION_deniedFineGrainedToken00"), sha("github_pat_11INTEGRATION_revokedFineGrainedToken0"), sha(tokOwner))
}

// TestExplain asks `caddy pat-policy explain` (the real binary, with the
// gateway's own Caddyfile) about one request of each reason code, and the
// admin API about one.
func TestExplain(t *testing.T) {
	host := newGitHost(t)
	if err := host.AddRepo("beta-org", "private", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	if err := host.AddRepoID(4242, "octo-org", "secret", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	host.SetUser(tokNoRecord, "nora")
	host.SetFailing("octo-org/internal", true)
	dir := t.TempDir()
	writeFeed(t, dir, explainFeed())
	g := startGateway(t, host.hostPort(), strings.ReplaceAll(fmt.Sprintf(policyBody(""), host.URL), "{dir}", dir))
	noFeed := startGateway(t, host.hostPort(), strings.ReplaceAll(fmt.Sprintf(policyBody(""), host.URL), "{dir}", t.TempDir()))
	const denied, revoked = "github_pat_11INTEGRATION_deniedFineGrainedToken00", "github_pat_11INTEGRATION_revokedFineGrainedToken0"
	registerTokens(denied, revoked)
	cases := []struct {
		reason, method, path string
		cfg                  *gateway
		token, fp, class     string
		want                 []string // lines the explanation must contain
	}{
		{reason: "not_governed", path: "/api/v3/repos/octo-org/private", token: tokOAuth, want: []string{"decision: allow (not_governed)", "token: oauth"}},
		{reason: "unscoped", path: "/api/v3/meta", token: tokClassic, want: []string{"target: unscoped"}},
		{reason: "allowed", method: "POST", path: "/api/v3/repos/open-org/private/issues", token: tokClassic, want: []string{`organization "open-org" (listed): classic access allow`}},
		{reason: "user_owned", path: "/api/v3/repos/bob/private", token: tokClassic, want: []string{`resource: owner "bob" (User), visibility private`}},
		{reason: "public_read", path: "/api/v3/repos/octo-org/public/contents/README.md", token: tokClassic, want: []string{"visibility public", "(readable anonymously when public)"}},
		{reason: "approved", path: "/api/v3/repos/octo-org/private", fp: sha(tokApproved), want: []string{"approval: status approved", "owner carol (from the feed)"}},
		{reason: "org_owner", path: "/api/v3/repos/octo-org/private", fp: sha(tokOwner), want: []string{"token owner is an organization owner: true"}},
		{reason: "classic_restricted", path: "/api/v3/repos/octo-org/private", fp: sha(tokClassic), class: "classic", want: []string{"effective: classic access restrict", "message: `octo-org` forbids access via a personal access token (classic)."}},
		{reason: "fine_grained_restricted", path: "/api/v3/repos/locked-org/private", fp: sha(tokApproved), want: []string{"effective: classic access restrict; fine-grained opted in true, access restrict"}},
		{reason: "fine_grained_not_opted_in", path: "/api/v3/repos/beta-org/private", fp: sha(tokApproved), want: []string{"fine-grained opted_in false", "effective: classic access allow; fine-grained opted in false"}},
		{reason: "approval_pending", path: "/api/v3/repos/octo-org/private", fp: sha(tokPending), want: []string{"approval: status pending"}},
		{reason: "approval_denied", path: "/api/v3/repos/octo-org/private", fp: sha(denied), want: []string{"approval: status denied"}},
		{reason: "approval_revoked", path: "/api/v3/repos/octo-org/private", fp: sha(revoked), want: []string{"approval: status revoked"}},
		{reason: "approval_missing", path: "/api/v3/repos/octo-org/private", token: tokNoRecord, want: []string{"owner nora (from the host)", "approval: status none, token owner is an organization owner: false"}},
		{reason: "undetermined", method: "POST", path: "/api/graphql", token: tokClassic, want: []string{"target: undetermined"}},
		{reason: "no_feed", path: "/api/v3/repos/octo-org/private", token: tokClassic, cfg: noFeed, want: []string{"feed: none loaded"}},
		{reason: "lookup_failed", path: "/api/v3/repos/octo-org/internal", token: tokClassic, want: []string{"decision: unavailable (lookup_failed)"}},
		{reason: "owner_mismatch", method: "PUT", path: "/api/v3/orgs/open-org/actions/permissions/repositories/4242", token: tokClassic, want: []string{`second resource: owner "octo-org" (Organization)`}},
	}
	home := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			gw := g
			if tc.cfg != nil {
				gw = tc.cfg
			}
			if tc.method == "" {
				tc.method = "GET"
			}
			args := []string{"pat-policy", "explain", "--config", gw.cfgPath, "--method", tc.method, "--url", "https://git.example.com" + tc.path}
			if tc.fp != "" {
				args = append(args, "--token-fingerprint", tc.fp)
				if tc.class != "" {
					args = append(args, "--token-class", tc.class)
				}
			} else {
				args = append(args, "--token-stdin")
			}
			cmd := exec.Command(caddyBin, args...)
			cmd.Stdin = strings.NewReader(tc.token)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, tc.reason), "PATGATE_LOOKUP_TOKEN="+serviceToken)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, out)
			}
			text := string(out)
			if !strings.Contains(text, "("+tc.reason+")") {
				t.Errorf("no (%s) in\n%s", tc.reason, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("explanation lacks %q:\n%s", w, text)
				}
			}
			for _, tok := range []string{tokClassic, tokApproved, tokNoRecord, tokOAuth} {
				if strings.Contains(text, tok) {
					t.Error("the explanation prints a raw token")
				}
			}
		})
	}
	t.Run("admin API", func(t *testing.T) {
		body := fmt.Sprintf(`{"method":"GET","url":"https://git.example.com/api/v3/repos/octo-org/private","token_fingerprint":%q}`, sha(tokPending))
		resp, err := http.Post(g.Admin+"/pat-policy/explain", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []struct {
			Decision, Reason, Message string
			Lines                     []string
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].Decision != "deny" || out[0].Reason != "approval_pending" || !strings.Contains(out[0].Message, "pending") || len(out[0].Lines) < 6 {
			t.Fatalf("%d %+v", resp.StatusCode, out)
		}
	})
}
