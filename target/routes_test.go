package target

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCorpusResolves walks every operation GitHub publishes (GHES 3.21 and
// github.com) and checks that a concrete request for it resolves to that
// very operation, under both API prefixes, with the owner, repository or id
// in the right place. No operation may be left unknown.
func TestCorpusResolves(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) < 1300 {
		t.Fatalf("only %d operations loaded", len(ops))
	}
	for _, prefix := range []string{"/api/v3", ""} {
		r, err := NewResolver(prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			path := op.Example()
			got, err := r.Resolve(httptest.NewRequest(op.Method, prefix+path, nil))
			if err != nil {
				t.Errorf("%s %s: %v", op.Method, path, err)
				continue
			}
			if got.Operation != op {
				other := "nothing"
				if got.Operation != nil {
					other = got.Operation.Method + " " + got.Operation.Path
				}
				t.Errorf("%s %s (%s) matched %s", op.Method, path, op.Path, other)
				continue
			}
			if err := checkPlaced(got); err != nil {
				t.Errorf("%s %s: %v", op.Method, op.Path, err)
			}
		}
	}
}

func checkPlaced(t Target) error {
	switch t.Scope {
	case Repository:
		if t.IDKind == IDRepository && t.ID == 42 || t.Owner == "octo-org" && t.Name != "" {
			return nil
		}
	case Organization:
		if t.IDKind != IDNone && t.ID == 42 || t.Owner == "octo-org" {
			return nil
		}
	case Enterprise:
		if t.Owner == "acme" || t.Owner == "" && !strings.Contains(t.Operation.Path, "{enterprise}") {
			return nil
		}
	case User:
		if t.Owner == "octo-org" {
			return nil
		}
	case Unscoped, Personal, Undetermined:
		if strings.Contains(t.Operation.Path, "{owner}") || strings.Contains(t.Operation.Path, "{org}") || strings.Contains(t.Operation.Path, "{enterprise}") {
			return fmt.Errorf("names an owner but is %s", t.Scope)
		}
		return nil
	}
	return fmt.Errorf("misplaced: %+v", t)
}

// BenchmarkResolveCorpus resolves a request for every published operation
// in turn; ns/op is the mean over the corpus.
func BenchmarkResolveCorpus(b *testing.B) {
	ops, err := Operations()
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewResolver("/api/v3")
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, len(ops))
	for i, op := range ops {
		reqs[i] = httptest.NewRequest(op.Method, "/api/v3"+op.Example(), nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Resolve(reqs[i]); err != nil {
			b.Fatal(err)
		}
		i++
		if i == len(reqs) {
			i = 0
		}
	}
}

func BenchmarkLoadTable(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadTable(); err != nil {
			b.Fatal(err)
		}
	}
}
