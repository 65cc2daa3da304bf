package integration

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patgate/patgate/internal/githost"
	"github.com/patgate/patgate/target"
)

// TestCorpusUnderClassicRestriction sends every REST operation GitHub
// publishes, through the real gateway, with a classic PAT while the
// enterprise restricts classic PATs: every operation on an organization's
// or the enterprise's resources is refused (but for an organization's
// public profile), and every unscoped or personal one is forwarded.
func TestCorpusUnderClassicRestriction(t *testing.T) {
	h := githost.New(serviceToken, "")
	if err := h.AddRepoID(42, "octo-org", "widgets", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	if err := h.AddRepo("octo-org", "template", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	h.AddOrgID(42, "octo-org")
	h.AddTeam(42, "octo-org")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	writeFeed(t, dir, `{"version": 1, "enterprise": {"slug": "acme", "classic": {"access": "restrict"}}}`)
	body := strings.ReplaceAll(fmt.Sprintf(policyBody(""), srv.URL), "{dir}", dir)
	g := startGateway(t, strings.TrimPrefix(srv.URL, "http://"), body)

	ops, err := target.Operations()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, op := range ops {
		want := 403
		switch op.Scope {
		case target.Unscoped, target.Personal:
			want = 200
		case target.Organization, target.User:
			// The organization's profile (and a profile list of an
			// account that turns out to be the organization) is public.
			if op.AnonReadable {
				want = 200
			}
		}
		resp := g.do(t, op.Method, "/api/v3"+op.Example(), "", "Authorization", "token "+tokClassic)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Errorf("%s %s (%s): status %d, want %d: %.200s", op.Method, op.Path, op.Scope, resp.StatusCode, want, b)
		}
		counts[fmt.Sprint(op.Scope, " ", resp.StatusCode)]++
	}
	t.Logf("%d operations: %v", len(ops), counts)
}
