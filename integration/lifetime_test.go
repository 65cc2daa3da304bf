package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Tokens of the lifetime and IP stories.
const (
	tokFGShort      = "github_pat_11LIFE_shortLivedFineGrainedToken0000" // 60 days, in the feed
	tokFGLong       = "github_pat_11LIFE_longLivedFineGrainedToken00000" // 120 days, in the feed
	tokClassicShort = "ghp_lifetimeClassicShort0000000000000001"         // the host says: expires in 20 days
	tokClassicLong  = "ghp_lifetimeClassicLong00000000000000001"         // the host says: expires in 400 days
	tokClassicNever = "ghp_lifetimeClassicNever0000000000000001"         // the host sends no expiry
	tokClassicFail  = "ghp_lifetimeClassicFailing00000000000001"         // the host cannot say
	tokClassicAdmin = "ghp_lifetimeClassicAdmin0000000000000001"         // alice's, an enterprise owner; never expires
)

// lifetimeFeed: the enterprise acme limits classic PATs to 366 days and
// exempts its administrators (alice); octo-org limits fine-grained PATs
// to 90 days and classic ones to 30 and allows both classes; net-org admits
// PATs only from 203.0.113.0/24 and 2001:db8::/32.
func lifetimeFeed(now time.Time) string {
	ts := func(d int) string { return now.Add(time.Duration(d) * 24 * time.Hour).UTC().Format(time.RFC3339) }
	return fmt.Sprintf(`{"version": 1,
  "enterprise": {"slug": "acme", "owners": ["alice"], "exempt_administrators": true, "classic": {"max_lifetime_days": 366}},
  "organizations": [
    {"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require", "max_lifetime_days": 90}, "classic": {"access": "allow", "max_lifetime_days": 30}},
    {"login": "open-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}},
    {"login": "net-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}, "ip_allow_list": ["203.0.113.0/24", "2001:db8::/32"]}
  ],
  "tokens": [
    {"sha256": %q, "owner": "carol", "organizations": {"octo-org": "approved"}, "created_at": %q, "expires_at": %q, "token_id": 4711},
    {"sha256": %q, "owner": "carol", "organizations": {"octo-org": "approved"}, "created_at": %q, "expires_at": %q, "token_id": 4712},
    {"sha256": %q, "owner": "alice", "expires_at": null}
  ]
}`, sha(tokFGShort), ts(-10), ts(50), sha(tokFGLong), ts(-100), ts(20), sha(tokClassicAdmin))
}

// lifetimeGateway starts a gateway with lifetimeFeed in front of the test
// host; global goes into Caddy's global options (trusted_proxies).
func lifetimeGateway(t *testing.T, host *testHost, global string, extra ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	writeFeed(t, dir, lifetimeFeed(time.Now()))
	g := startCaddy(t, dir, "", func(port, admin int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
	log {
		level DEBUG
	}
	%s
}

http://127.0.0.1:%d {
	pat_policy {
		feed %s/policy.json
		lookup %s/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
		%s
	}
	reverse_proxy %s
}
`, admin, global, port, dir, host.URL, strings.Join(extra, "\n\t\t"), host.hostPort())
	})
	g.Dir = dir
	return g
}

func lifetimeHost(t *testing.T) *testHost {
	t.Helper()
	host := newGitHost(t)
	if err := host.AddRepo("net-org", "private", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for tok, days := range map[string]int{tokClassicShort: 20, tokClassicLong: 400, tokClassicNever: 0, tokClassicFail: 0, tokClassicAdmin: 0} {
		host.SetUser(tok, "carol")
		if days > 0 {
			host.SetTokenExpiry(tok, now.Add(time.Duration(days)*24*time.Hour))
		}
	}
	host.SetUser(tokClassicAdmin, "alice")
	host.SetUserStatus(tokClassicFail, http.StatusInternalServerError)
	return host
}

// The messages as SPEC §8 and §9 give them, for this gateway's host.
func lifetimeMsg(g *gateway, who, level, kind string, days int, path string) string {
	return fmt.Sprintf("The '%s' %s forbids access via %s if the token's lifetime is greater than %d days. Please adjust your token's lifetime at the following URL: https://%s%s",
		who, level, kind, days, strings.TrimPrefix(g.URL, "http://"), path)
}

const (
	fgKind      = "a fine-grained personal access tokens"
	classicKind = "a personal access tokens (classic)"
	netOrgMsg   = "Although you appear to have the correct authorization credentials, the `net-org` organization has an IP allow list enabled, and your IP address is not permitted to access this resource."
)

// TestLifetimes: octo-org's 90-day limit for fine-grained PATs and 30-day
// limit for classic ones, and the enterprise's 366-day limit for classic
// PATs, from the feed's records and from the host's expiry header, over
// REST, GraphQL, Git and LFS.
func TestLifetimes(t *testing.T) {
	c := newGitClient(t)
	host := lifetimeHost(t)
	for _, r := range []string{"octo-org/private", "octo-org/public", "open-org/private"} {
		owner, repo, _ := strings.Cut(r, "/")
		c.seed(host.GitRoot, owner, repo)
	}
	g := lifetimeGateway(t, host, "")
	longFG := lifetimeMsg(g, "octo-org", "organization", fgKind, 90, "/settings/personal-access-tokens/4712")
	entClassic := lifetimeMsg(g, "acme", "enterprise", classicKind, 366, "/settings/tokens")
	orgClassic := lifetimeMsg(g, "octo-org", "organization", classicKind, 30, "/settings/tokens")
	for _, tc := range []struct {
		name, token, method, path string
		status                    int
		msg                       string
	}{
		{"60-day fine-grained token, approved", tokFGShort, "POST", "/api/v3/repos/octo-org/private/issues", 200, ""},
		{"120-day fine-grained token: octo-org's limit is 90", tokFGLong, "POST", "/api/v3/repos/octo-org/private/issues", 403, longFG},
		{"the same token reads a public repository", tokFGLong, "GET", "/api/v3/repos/octo-org/public", 200, ""},
		{"the same token in an organization without a limit", tokFGLong, "POST", "/api/v3/repos/open-org/private/issues", 200, ""},
		{"the same token, a user's repository", tokFGLong, "POST", "/api/v3/repos/bob/private/issues", 200, ""},
		{"classic, the host says 20 days", tokClassicShort, "GET", "/api/v3/repos/octo-org/private", 200, ""},
		{"classic, the host says 400 days: the enterprise's limit first", tokClassicLong, "GET", "/api/v3/repos/octo-org/private", 403, entClassic},
		{"classic, never expires (no header)", tokClassicNever, "GET", "/api/v3/repos/open-org/private", 403, entClassic},
		{"classic, the host cannot say: 503", tokClassicFail, "GET", "/api/v3/repos/open-org/private", 503, "could not be determined"},
		{"an enterprise owner is exempt from the enterprise's limit", tokClassicAdmin, "GET", "/api/v3/repos/open-org/private", 200, ""},
		{"…not from octo-org's", tokClassicAdmin, "GET", "/api/v3/repos/octo-org/private", 403, orgClassic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.do(t, tc.method, tc.path, "", "Authorization", "token "+tc.token)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("status %d, want %d with %q: %s", resp.StatusCode, tc.status, tc.msg, body)
			}
		})
	}
	t.Run("GraphQL: the refusal in errors", func(t *testing.T) {
		resp := g.do(t, "POST", "/api/graphql", `{"query":"{ repository(owner: \"octo-org\", name: \"private\") { name } }"}`, "Authorization", "bearer "+tokFGLong)
		var e struct {
			Errors []struct{ Type, Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 403 || len(e.Errors) != 1 || e.Errors[0].Type != "FORBIDDEN" || e.Errors[0].Message != longFG {
			t.Fatalf("status %d %+v %v", resp.StatusCode, e, err)
		}
	})
	t.Run("GraphQL: an answer loses octo-org's private repository", func(t *testing.T) {
		resp := g.do(t, "POST", "/api/graphql", `{"query":"{ search(type: REPOSITORY, query: \"org:octo-org\", first: 10) { nodes { ... on Repository { nameWithOwner } } } }"}`, "Authorization", "bearer "+tokFGLong)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.Contains(string(body), `"octo-org/private"`) || !strings.Contains(string(body), `"octo-org/public"`) || !strings.Contains(string(body), longFG) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("git clone and push: the message as remote: lines", func(t *testing.T) {
		dst := filepath.Join(c.dir, "long-clone")
		out, err := c.run("", withToken(tokFGLong), "clone", g.repoURL("octo-org", "private"), dst)
		if err == nil {
			t.Fatalf("clone succeeded:\n%s", out)
		}
		assertRefusal(t, out, longFG)
		c.mustRun("", withToken(tokFGLong), "clone", "--quiet", g.repoURL("octo-org", "public"), dst)
		c.mustRun(dst, nil, "commit", "--quiet", "--allow-empty", "-m", "x")
		out, err = c.run(dst, withToken(tokFGLong), "push", "origin", "main")
		if err == nil {
			t.Fatalf("push succeeded:\n%s", out)
		}
		assertRefusal(t, out, longFG)
		t.Logf("git printed:\n%s", out)
	})
	t.Run("LFS batch", func(t *testing.T) {
		resp := g.do(t, "POST", "/octo-org/private.git/info/lfs/objects/batch",
			`{"operation":"download","transfers":["basic"],"objects":[{"oid":"`+strings.Repeat("a", 64)+`","size":1}]}`,
			"Authorization", basic("x-access-token", tokFGLong), "Content-Type", "application/vnd.git-lfs+json")
		assertLFSRefusal(t, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body, 403, longFG)
	})
	g.waitLog(t, "the new reason in the decision record", regexp.MustCompile(`"reason":"lifetime_exceeded"`))
	if n := scrape(t, g.Admin, "caddy_pat_policy_decisions_total", map[string]string{"reason": "lifetime_exceeded"}); n < 1 {
		t.Errorf("lifetime_exceeded counted %v times", n)
	}
}

// TestLifetimeReportMode: a lifetime limit rolled out in report mode
// refuses nothing; the record and the metric say who would be refused, and
// the approval inbox lists them.
func TestLifetimeReportMode(t *testing.T) {
	host := lifetimeHost(t)
	g := lifetimeGateway(t, host, "", "report_organizations octo-org net-org")
	for _, path := range []string{"/api/v3/repos/octo-org/private", "/api/v3/repos/net-org/private"} {
		resp := g.do(t, "GET", path, "", "Authorization", "token "+tokFGLong)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d in report mode", path, resp.StatusCode)
		}
	}
	g.waitLog(t, "would_deny lifetime_exceeded", regexp.MustCompile(`"decision":"would_deny","reason":"lifetime_exceeded","mode":"report"`))
	g.waitLog(t, "would_deny ip_not_allowed", regexp.MustCompile(`"decision":"would_deny","reason":"ip_not_allowed","mode":"report"`))
	if n := scrape(t, g.Admin, "caddy_pat_policy_decisions_total", map[string]string{"decision": "would_deny", "reason": "lifetime_exceeded"}); n != 1 {
		t.Errorf("would_deny lifetime_exceeded counted %v times", n)
	}
	if got, _, raw := listInbox(t, g, "octo-org"); len(got) != 1 || got[0].Reason != "lifetime_exceeded" || got[0].Token != sha(tokFGLong)[:12] {
		t.Errorf("the inbox: %s", raw)
	}
}

// TestIPAllowList: net-org admits PATs only from its list. The address is
// Caddy's: the connection's peer (127.0.0.1 here), unless trusted_proxies
// names the peer, and then the forwarded one. An X-Forwarded-For from a
// peer Caddy does not trust changes nothing.
func TestIPAllowList(t *testing.T) {
	host := lifetimeHost(t)
	direct := lifetimeGateway(t, host, "")
	proxied := lifetimeGateway(t, host, "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}")
	for _, tc := range []struct {
		name   string
		g      *gateway
		xff    string
		path   string
		status int
	}{
		{"from the peer's address, not on the list", direct, "", "/api/v3/repos/net-org/private", 403},
		{"a forwarded address from an untrusted peer changes nothing", direct, "203.0.113.5", "/api/v3/repos/net-org/private", 403},
		{"a trusted proxy forwards an address on the list", proxied, "203.0.113.5", "/api/v3/repos/net-org/private", 200},
		{"an IPv6 address on the list", proxied, "2001:db8::77", "/api/v3/repos/net-org/private", 200},
		{"a trusted proxy forwards an address not on the list", proxied, "198.51.100.9", "/api/v3/repos/net-org/private", 403},
		{"a trusted proxy without a forwarded address: the proxy's", proxied, "", "/api/v3/repos/net-org/private", 403},
		{"other organizations have no list", direct, "", "/api/v3/repos/open-org/private", 200},
		{"public reads stay open", direct, "", "/api/v3/repos/octo-org/public", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, tok := range []string{tokClassicShort, tokFGShort} {
				h := []string{"Authorization", "token " + tok}
				if tc.xff != "" {
					h = append(h, "X-Forwarded-For", tc.xff)
				}
				resp := tc.g.do(t, "GET", tc.path, "", h...)
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tc.status || tc.status == 403 && !strings.Contains(string(body), netOrgMsg) {
					t.Fatalf("%s: status %d, want %d: %s", tok[:8], resp.StatusCode, tc.status, body)
				}
			}
		})
	}
	direct.waitLog(t, "the new reason in the decision record", regexp.MustCompile(`"reason":"ip_not_allowed"`))
}
