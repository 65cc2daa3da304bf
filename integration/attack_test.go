package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// send sends a request with its path exactly as given (no client-side
// cleaning or escaping) and extra headers.
func send(t *testing.T, g *gateway, method, target string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Opaque, req.URL.RawQuery = path, query
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestPathAttacks: each attacker holds a classic PAT, which octo-org
// restricts, and wants octo-org's private repository. The public one next
// to it is open to them; every trick below tries to make the gateway check
// something the host will not act on.
func TestPathAttacks(t *testing.T) {
	g, host := newGateway(t, "")
	auth := []string{"Authorization", "token " + tokClassic}
	cases := []struct {
		story  string
		method string
		target string
		extra  []string
		want   int
	}{
		// The control: the public repository is readable, the private not.
		{"baseline: public repository", "GET", "/api/v3/repos/octo-org/public", nil, 200},
		{"baseline: private repository", "GET", "/api/v3/repos/octo-org/private", nil, 403},
		// The gateway might check "public" while a server that collapses
		// dot segments serves "private".
		{"dot-dot after a public repository", "GET", "/api/v3/repos/octo-org/public/../private", nil, 400},
		{"encoded dot-dot", "GET", "/api/v3/repos/octo-org/public/%2e%2e/private", nil, 400},
		{"dot segment before the owner", "GET", "/api/v3/repos/./octo-org/private", nil, 400},
		// A doubled slash shifts every segment for one reader and not the
		// other.
		{"doubled slash", "GET", "/api/v3/repos//octo-org/private", nil, 400},
		// An encoded slash is one segment to the gateway and two to a host
		// that decodes it.
		{"encoded slash in the owner", "GET", "/api/v3/repos/octo-org%2Fprivate/x", nil, 400},
		{"encoded backslash", "GET", "/api/v3/repos/octo-org/public%5C..%5Cprivate", nil, 400},
		{"NUL byte", "GET", "/api/v3/repos/octo-org/private%00.json", nil, 400},
		{"invalid UTF-8", "GET", "/api/v3/repos/octo-org/priv%ffate", nil, 400},
		// A look-alike hyphen that a host normalising Unicode would fold to
		// the real login.
		{"Unicode look-alike in the owner", "GET", "/api/v3/repos/octo%E2%80%90org/private", nil, 400},
		// Percent-encoding a plain letter changes nothing: the gateway
		// decodes as the host does, and checks the real name.
		{"encoded plain letters", "GET", "/api/v3/repos/octo-org/priv%61te", nil, 403},
		{"owner in other case", "GET", "/api/v3/repos/OCTO-ORG/PRIVATE", nil, 403},
		{"trailing slash", "GET", "/api/v3/repos/octo-org/private/", nil, 403},
		{"trailing .git on the API", "GET", "/api/v3/repos/octo-org/private.git", nil, 403},
		// A host that routes the API prefix case-insensitively would serve
		// this as the API; the gateway must not take it for a Git path.
		{"API prefix in other case", "GET", "/API/V3/repos/octo-org/private", nil, 403},
		// The request says GET, a method override says DELETE: a host
		// that honours the override deletes a public repository the
		// attacker may only read.
		{"method override header", "GET", "/api/v3/repos/octo-org/public", []string{"X-HTTP-Method-Override", "DELETE"}, 403},
		{"other method override header", "GET", "/api/v3/repos/octo-org/public", []string{"X-Method-Override", "patch"}, 403},
		{"_method query parameter", "GET", "/api/v3/repos/octo-org/public?_method=DELETE", nil, 403},
		{"override to a read stays a read", "GET", "/api/v3/repos/octo-org/public", []string{"X-HTTP-Method-Override", "GET"}, 200},
		// Git: the push's ref discovery spelled so that a naive check sees
		// upload-pack.
		{"receive-pack hidden by encoding", "GET", "/octo-org/public.git/info/refs?service=git%2dreceive-pack", nil, 403},
		{"receive-pack after upload-pack", "GET", "/octo-org/public.git/info/refs?service=git-upload-pack&service=git-receive-pack", nil, 403},
	}
	for _, tc := range cases {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			status, body := send(t, g, tc.method, tc.target, append(append([]string{}, auth...), tc.extra...)...)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if tc.want != 200 && host.Count() != before {
				t.Fatal("the request reached the host")
			}
		})
	}
}

// TestCredentialAttacks: hostile or odd credentials get a clear 4xx, never
// a 500 and never a forward of a token the gateway did not check.
func TestCredentialAttacks(t *testing.T) {
	g, host := newGateway(t, "")
	const private = "/api/v3/repos/octo-org/private"
	cases := []struct {
		story   string
		target  string
		headers []string
		want    int
	}{
		// Scheme and token casing: the host may accept them, so the gateway
		// reads them too.
		{"scheme in capitals", private, []string{"Authorization", "TOKEN " + tokClassic}, 403},
		{"token prefix in capitals", private, []string{"Authorization", "token " + strings.ToUpper(tokClassic[:4]) + tokClassic[4:]}, 403},
		{"whitespace around the token", private, []string{"Authorization", "  token \t" + tokClassic + "  "}, 403},
		// Two credentials: which one would the host use?
		{"two Authorization headers", private, []string{"Authorization", "token " + tokApproved, "Authorization", "token " + tokClassic}, 400},
		{"header and query token", private + "?access_token=" + tokClassic, []string{"Authorization", "token " + tokApproved}, 400},
		{"two query tokens", private + "?access_token=" + tokApproved + "&access_token=" + tokClassic, nil, 400},
		{"encoded query key", private + "?access%5Ftoken=" + tokClassic, []string{"Authorization", "token " + tokApproved}, 400},
		{"query token alone is read", private + "?access_token=" + tokClassic, nil, 403},
		{"two tokens in one Basic pair", private, []string{"Authorization", basic(tokApproved, tokClassic)}, 400},
		// Unreadable credentials.
		{"Basic that is not base64", private, []string{"Authorization", "Basic ***"}, 400},
		{"Basic without a colon", private, []string{"Authorization", "Basic " + "Z2hwX3h4eA"}, 400},
		{"scheme without a token", private, []string{"Authorization", "Bearer"}, 400},
		{"token with inner space", private, []string{"Authorization", "token ghp_abc def"}, 400},
		{"PAT under an unknown scheme", private, []string{"Authorization", "Digest response=\"" + tokClassic + "\""}, 400},
		{"PAT without a scheme", private, []string{"Authorization", tokClassic}, 400},
		{"non-ASCII in the token", private, []string{"Authorization", "token ghp_\u00e9" + tokClassic[5:]}, 400},
		// A header larger than the server takes is refused by Caddy itself.
		{"huge Authorization header", private, []string{"Authorization", "token " + strings.Repeat("a", 2<<20)}, 431},
	}
	for _, tc := range cases {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			status, body := send(t, g, "GET", tc.target, tc.headers...)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %.200s", status, tc.want, body)
			}
			if status >= 500 {
				t.Fatal("a 5xx")
			}
			if host.Count() != before {
				t.Fatal("the request reached the host")
			}
			for _, tok := range []string{tokClassic, tokApproved} {
				if strings.Contains(body, tok) {
					t.Fatal("the answer echoes a token")
				}
			}
		})
	}
}
