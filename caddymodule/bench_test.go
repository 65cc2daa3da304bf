package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/patgate/patgate/internal/githost"
	"github.com/patgate/patgate/tokenclass"
)

// benchHandler provisions a real handler (feed file, lookups against a
// fake host) outside a Caddy server, as Provision would.
func benchHandler(b testing.TB) *Handler {
	b.Helper()
	host := githost.New("svc", "")
	for _, r := range [][4]string{
		{"octo-org", "private", "Organization", "private"},
		{"octo-org", "public", "Organization", "public"},
		{"open-org", "private", "Organization", "private"},
		{"bob", "dotfiles", "User", "private"},
	} {
		if err := host.AddRepo(r[0], r[1], r[2], r[3]); err != nil {
			b.Fatal(err)
		}
	}
	host.Quiet = true
	srv := httptest.NewServer(host)
	b.Cleanup(srv.Close)
	dir := b.TempDir()
	feed := fmt.Sprintf(`{"version": 1,
	  "organizations": [
	    {"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}, "owners": ["alice"]},
	    {"login": "open-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}}],
	  "tokens": [{"sha256": %q, "owner": "carol", "organizations": {"octo-org": "approved"}}]}`,
		tokenclass.FingerprintOf("github_pat_benchApproved").String())
	if err := os.WriteFile(filepath.Join(dir, "feed.json"), []byte(feed), 0o600); err != nil {
		b.Fatal(err)
	}
	// Metrics as Provision registers them, on a registry of its own.
	if err := initMetrics(prometheus.NewRegistry()); err != nil {
		b.Fatal(err)
	}
	h := &Handler{Feed: filepath.Join(dir, "feed.json"), FeedCache: "off", Lookup: srv.URL + "/api/v3", LookupToken: "svc"}
	if err := h.prepare(zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Cleanup() })
	return h
}

type nextOK struct{}

func (nextOK) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return nil }

// BenchmarkServeHTTP runs the whole handler on the cached path: credential,
// route, cached lookup, decision, record, next handler.
func BenchmarkServeHTTP(b *testing.B) {
	h := benchHandler(b)
	cases := []struct {
		name, method, path, auth string
	}{
		{"fine-grained-approved-private", "GET", "/api/v3/repos/octo-org/private/pulls/1", "token github_pat_benchApproved"},
		{"classic-allowed-org", "POST", "/api/v3/repos/open-org/private/issues", "token ghp_benchClassic000000000000000000000000"},
		{"classic-denied", "GET", "/api/v3/repos/octo-org/private", "token ghp_benchClassic000000000000000000000000"},
		{"classic-public-read", "GET", "/api/v3/repos/octo-org/public/contents/README.md", "Bearer ghp_benchClassic000000000000000000000000"},
		{"git-fetch-basic", "POST", "/octo-org/private.git/git-upload-pack", "Basic eC1hY2Nlc3MtdG9rZW46Z2l0aHViX3BhdF9iZW5jaEFwcHJvdmVk"},
		{"oauth-untouched", "GET", "/api/v3/repos/octo-org/private", "token gho_benchOAuth"},
		{"anonymous", "GET", "/api/v3/repos/octo-org/public", ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(c.method, c.path, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			// Warm the lookup cache.
			if err := h.ServeHTTP(w, req, nextOK{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := h.ServeHTTP(discard{}, req, nextOK{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler rather than a recorder.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// BenchmarkServeHTTPParallel is the cached allow path from every core at
// once, to show contention (metrics, cache, clocks) that one goroutine
// cannot.
func BenchmarkServeHTTPParallel(b *testing.B) {
	h := benchHandler(b)
	req := httptest.NewRequest("GET", "/api/v3/repos/octo-org/private/pulls/1", nil)
	req.Header.Set("Authorization", "token github_pat_benchApproved")
	if err := h.ServeHTTP(discard{}, req, nextOK{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := req.Clone(req.Context())
		for pb.Next() {
			if err := h.ServeHTTP(discard{}, r, nextOK{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestCachedPathAllocatesNothing keeps the cached path free of heap
// allocations: twice this work already put one back unnoticed (a record
// whose pointer escaped through a func value).
func TestCachedPathAllocatesNothing(t *testing.T) {
	h := benchHandler(t)
	for _, c := range []struct{ method, path, auth string }{
		{"GET", "/api/v3/repos/octo-org/private/pulls/1", "token github_pat_benchApproved"},
		{"POST", "/api/v3/repos/open-org/private/issues", "token ghp_benchClassic000000000000000000000000"},
		{"GET", "/api/v3/repos/octo-org/public/contents/README.md", "Bearer ghp_benchClassic000000000000000000000000"},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		req.Header.Set("Authorization", c.auth)
		if err := h.ServeHTTP(httptest.NewRecorder(), req, nextOK{}); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = h.ServeHTTP(discard{}, req, nextOK{}) }); n != 0 {
			t.Errorf("%s %s: %.0f allocations per request on the cached path", c.method, c.path, n)
		}
	}
}
