package integration

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patgate/patgate/internal/githost"
)

// serviceToken is the lookup credential the gateway is configured with
// (through the environment, see runCaddy).
const serviceToken = "lookup-service-credential"

// testHost is the fake Git host with the repositories every test uses.
type testHost struct {
	*githost.Host
	URL string
}

func newGitHost(t *testing.T) *testHost {
	t.Helper()
	needTool(t, "git") // the host keeps its repositories with git
	h := githost.New(serviceToken, t.TempDir())
	for _, r := range []struct{ owner, name, typ, vis string }{
		{"octo-org", "private", "Organization", "private"},
		{"octo-org", "public", "Organization", "public"},
		{"octo-org", "internal", "Organization", "internal"},
		{"open-org", "private", "Organization", "private"},
		{"locked-org", "private", "Organization", "private"},
		{"bob", "private", "User", "private"},
	} {
		if err := h.AddRepo(r.owner, r.name, r.typ, r.vis); err != nil {
			t.Fatal(err)
		}
	}
	h.AddAccount("alice", "User")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testHost{Host: h, URL: srv.URL}
}

// hostPort is the host's address for reverse_proxy.
func (h *testHost) hostPort() string { return strings.TrimPrefix(h.URL, "http://") }

func sha(s string) string { return githost.SHA(s) }
