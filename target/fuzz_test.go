package target

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzResolve feeds arbitrary request targets to the resolver. Whatever the
// input: no panic; a path the upstream could read differently (one that
// path.Clean would change) is refused; what is resolved is well formed.
// Seeds are in testdata/fuzz/FuzzResolve; CI runs them as tests.
func FuzzResolve(f *testing.F) {
	for _, s := range []struct{ method, target string }{
		{"GET", "/api/v3/repos/octo-org/r"},
		{"POST", "/octo-org/r.git/git-receive-pack"},
		{"GET", "/api/v3/repos/octo-org/r/contents/a/../b"},
	} {
		f.Add(s.method, s.target)
	}
	ghes, err := NewResolver("/api/v3")
	if err != nil {
		f.Fatal(err)
	}
	dotcom, err := NewResolver("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		for _, r := range []*Resolver{ghes, dotcom} {
			req := &http.Request{Method: method, URL: u, Header: http.Header{}}
			got, err := r.Resolve(req)
			canonical := path.Clean(u.Path)
			if strings.HasSuffix(u.Path, "/") && canonical != "/" {
				canonical += "/"
			}
			if err != nil {
				continue
			}
			if u.Path != canonical {
				t.Fatalf("%q resolved although it is not canonical (%q)", u.Path, canonical)
			}
			checkResolved(t, u.Path, got)
		}
	})
}

func checkResolved(t *testing.T, p string, got Target) {
	t.Helper()
	if got.Scope.String() == "invalid" || got.Surface.String() == "invalid" {
		t.Fatalf("%q: invalid target %+v", p, got)
	}
	if got.AnonReadable && got.Access != Read {
		t.Fatalf("%q: a write is anonymously readable", p)
	}
	switch got.Scope {
	case Repository:
		if got.IDKind == IDNone && (got.Owner == "" || got.Name == "" || strings.Contains(got.Owner+got.Name, "/")) {
			t.Fatalf("%q: repository without a clean owner and name: %+v", p, got)
		}
	case Organization:
		if got.IDKind == IDNone && (got.Owner == "" || strings.Contains(got.Owner, "/")) {
			t.Fatalf("%q: organization without a clean login: %+v", p, got)
		}
	}
	if got.IDKind != IDNone && got.ID <= 0 {
		t.Fatalf("%q: id target without an id: %+v", p, got)
	}
}
