package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A lookup the decision needs fails: the gateway cannot tell whose
// repository it is, so it must not let a restricted token through. It
// answers 503 with Retry-After, and decides normally once the host is back.
func TestLookupFailureFailsClosed(t *testing.T) {
	g, host := newGateway(t, "")
	host.SetFailing("octo-org/private", true)
	for _, tok := range []string{tokClassic, tokPending} {
		resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tok)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q, want 503 with Retry-After; %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if host.Count() != 0 {
			t.Fatal("the request reached the upstream")
		}
	}
	// Requests the policy settles without the lookup still flow.
	for _, tok := range []string{tokOAuth, ""} {
		var h []string
		if tok != "" {
			h = []string{"Authorization", "token " + tok}
		}
		if resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", h...); resp.StatusCode != 200 {
			t.Errorf("ungoverned request: status %d", resp.StatusCode)
		}
	}
	host.SetFailing("octo-org/private", false)
	if resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic); resp.StatusCode != 403 {
		t.Errorf("after recovery: status %d, want 403", resp.StatusCode)
	}
	if resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokApproved); resp.StatusCode != 200 {
		t.Errorf("after recovery: approved token got %d, want 200", resp.StatusCode)
	}
}

// With fail_open the operator chose availability over enforcement for
// lookup failures: the request is forwarded and the record says why.
func TestLookupFailureFailOpen(t *testing.T) {
	g, host := newGateway(t, "fail_open")
	host.SetFailing("octo-org/private", true)
	resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
	if resp.StatusCode != 200 || host.Count() != 1 {
		t.Fatalf("status %d, forwarded %d; want 200 and forwarded", resp.StatusCode, host.Count())
	}
	g.waitLog(t, "the decision record says the lookup failed", regexp.MustCompile(`"reason":"lookup_failed"`))
}

// Until a first feed is loaded, PAT requests to enterprise resources get
// 503; requests the policies cannot touch flow; the feed is picked up as
// soon as it appears.
func TestNoFeedYet(t *testing.T) {
	host := newGitHost(t)
	dir := t.TempDir()
	body := strings.ReplaceAll(fmt.Sprintf(policyBody(""), host.URL), "{dir}", dir)
	g := startGateway(t, host.hostPort(), body)
	cases := []struct {
		name, path, token string
		want              int
	}{
		{"private org repository", "/api/v3/repos/octo-org/private", tokClassic, 503},
		{"enterprise endpoint", "/api/v3/enterprises/acme/settings/license", tokApproved, 503},
		{"public repository read", "/api/v3/repos/octo-org/public", tokClassic, 200},
		{"user-owned repository", "/api/v3/repos/bob/private", tokClassic, 200},
		{"unscoped route", "/api/v3/meta", tokClassic, 200},
		{"oauth token", "/api/v3/repos/octo-org/private", tokOAuth, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.do(t, "GET", tc.path, "", "Authorization", "token "+tc.token)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	writeFeed(t, dir, feedV1())
	eventually(t, 10*time.Second, func() string {
		resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
		if resp.StatusCode != 403 {
			return fmt.Sprintf("feed not picked up: status %d", resp.StatusCode)
		}
		return ""
	})
}

// Report mode denies nothing: the would-be denial is forwarded and logged
// as such, so a policy can be rolled out before it is enforced.
func TestReportMode(t *testing.T) {
	g, host := newGateway(t, "mode report")
	resp := g.do(t, "POST", "/api/v3/repos/octo-org/private/issues", `{"title":"x"}`, "Authorization", "token "+tokClassic)
	if resp.StatusCode != 200 || host.Count() != 1 {
		t.Fatalf("status %d, forwarded %d; want 200 and forwarded", resp.StatusCode, host.Count())
	}
	g.waitLog(t, "would_deny record for the classic token in report mode",
		regexp.MustCompile(`"decision":"would_deny","reason":"classic_restricted","mode":"report"`))
}

// Each kind of client is refused in the shape it shows to its user.
func TestAnswerShapes(t *testing.T) {
	g, _ := newGateway(t, "")
	t.Run("REST", func(t *testing.T) {
		resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
		var e map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		want := "`octo-org` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."
		if resp.StatusCode != 403 || e["message"] != want || e["status"] != "403" || !strings.HasPrefix(e["documentation_url"], "https://docs.github.com/") {
			t.Errorf("%d %v", resp.StatusCode, e)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("content type %q", ct)
		}
	})
	t.Run("GraphQL", func(t *testing.T) {
		resp := g.do(t, "POST", "/api/graphql", `{"query":"{ repository(owner: \"octo-org\", name: \"private\") { id } }"}`, "Authorization", "bearer "+tokClassic)
		var e struct {
			Message string
			Status  string
			Errors  []struct{ Type, Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 403 || e.Status != "403" || len(e.Errors) != 1 || e.Errors[0].Type != "FORBIDDEN" || e.Errors[0].Message != e.Message || !strings.Contains(e.Message, "`octo-org` forbids access via a personal access token (classic)") {
			t.Errorf("%d %+v", resp.StatusCode, e)
		}
	})
	t.Run("GraphQL with a token no policy restricts", func(t *testing.T) {
		resp := g.do(t, "POST", "/api/graphql", `{"query":"{ viewer { login } }"}`, "Authorization", "bearer "+tokOAuth)
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("Git", func(t *testing.T) {
		resp := g.do(t, "GET", "/octo-org/private.git/info/refs?service=git-upload-pack", "", "Authorization", basic("x-access-token", tokPending))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(string(body), "`octo-org`") || strings.HasPrefix(string(body), "{") {
			t.Errorf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}

// Requests the gateway cannot check are refused with 400, never checked
// as one thing and forwarded as another.
func TestMalformedRequests(t *testing.T) {
	g, host := newGateway(t, "")
	cases := []struct {
		name    string
		path    string
		headers []string
	}{
		// An attacker sends an approved token for the gateway to check and a
		// restricted one for the upstream to use, hoping each picks a
		// different header.
		{"two Authorization headers", "/api/v3/repos/octo-org/private", []string{"Authorization", "token " + tokApproved, "Authorization", "token " + tokClassic}},
		// The same trick with the query parameter the upstream may read.
		{"header and a different access_token", "/api/v3/repos/octo-org/private?access_token=" + tokClassic, []string{"Authorization", "token " + tokApproved}},
		// Two tokens in one Basic pair: which one does the host use?
		{"two tokens in Basic", "/octo-org/private.git/info/refs?service=git-upload-pack", []string{"Authorization", basic(tokApproved, tokClassic)}},
		// A PAT under a scheme the gateway does not read.
		{"PAT without scheme", "/api/v3/repos/octo-org/private", []string{"Authorization", tokClassic}},
		// A public repository's path that climbs into a private one after
		// the upstream collapses the dot segments.
		{"dot segments", "/api/v3/repos/octo-org/public/../private", []string{"Authorization", "token " + tokClassic}},
		{"encoded slash", "/api/v3/repos/octo-org%2Fprivate/x", []string{"Authorization", "token " + tokClassic}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// send keeps the path exactly as written: no client-side cleaning.
			status, body := send(t, g, "GET", tc.path, tc.headers...)
			if status != 400 {
				t.Fatalf("status %d, want 400; %s", status, body)
			}
			if host.Count() != 0 {
				t.Fatal("a malformed request reached the upstream")
			}
			for _, tok := range []string{tokApproved, tokClassic} {
				if strings.Contains(body, tok) {
					t.Error("the 400 answer echoes a token")
				}
			}
		})
	}
}
