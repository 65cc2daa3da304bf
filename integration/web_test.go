package integration

import (
	"io"
	"strings"
	"testing"
)

// TestWebDownloads: raw files, archives and release assets are repository
// reads: public ones stay open, private ones follow the policy, and
// refusals are plain text.
func TestWebDownloads(t *testing.T) {
	g, host := newGateway(t, "")
	cases := []struct {
		path, token string
		want        int
	}{
		{"/octo-org/private/raw/main/README.md", tokClassic, 403},
		{"/octo-org/private/raw/main/README.md", tokApproved, 200},
		{"/raw/octo-org/private/main/README.md", tokClassic, 403},
		{"/raw/octo-org/private/main/README.md", tokPending, 403},
		{"/octo-org/internal/archive/refs/heads/main.zip", tokNoRecord, 403},
		{"/octo-org/internal/archive/main.tar.gz", tokApproved, 200},
		{"/octo-org/private/releases/download/v1.0/app.tar.gz", tokClassic, 403},
		{"/octo-org/public/releases/download/v1.0/app.tar.gz", tokClassic, 200},
		{"/octo-org/public/raw/main/README.md", tokPending, 200},
		{"/raw/bob/private/main/README.md", tokClassic, 200},
		// The host's own pages are not repositories: /settings/tokens is
		// not the repository "tokens" of an account named "settings".
		{"/settings/tokens/raw/x", tokClassic, 200},
		{"/login/oauth/access_token", tokClassic, 200},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			before := host.Count()
			resp := g.do(t, "GET", tc.path, "", "Authorization", basic("x-access-token", tc.token))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 403 {
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || !strings.Contains(string(body), "`octo-org` forbids access") {
					t.Errorf("refusal %q %s", ct, body)
				}
				if host.Count() != before {
					t.Error("a refused download reached the host")
				}
			}
		})
	}
}
