package graphqlfilter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
)

// BenchmarkPrepare rewrites the documents gh sends for `gh pr list` and
// `gh status` (captured from gh 2.x through the gateway, in testdata/).
// Goal: at most 100 µs per document.
func BenchmarkPrepare(b *testing.B) {
	if _, err := loadRules(); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"gh-pr-list", "gh-status"} {
		doc, err := os.ReadFile("testdata/" + name + ".graphql")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, plan, err := Prepare(string(doc), ""); err != nil || plan == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFilter checks a 1 MB answer (gh status's issue search, 2,800
// issues of restricted and open organizations' repositories, as the fake
// host executes the rewritten document) against encoding/json decoding
// the same answer into any, in the same run.
func BenchmarkFilter(b *testing.B) {
	h := newHost(b)
	repos := []string{"octo-org/private", "octo-org/public", "octo-org/internal", "open-org/private", "carol/fork"}
	for i := range 2800 {
		h.AddIssue(repos[i%len(repos)], 100+i/len(repos), fmt.Sprintf("an issue with a title of some length, number %d", i), "carol")
	}
	doc, err := os.ReadFile("testdata/gh-status.graphql")
	if err != nil {
		b.Fatal(err)
	}
	q, plan, err := Prepare(string(doc), "")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"searchAssigns": "is:issue", "searchReviews": "is:pr", "limit": 5000}})
	req := httptest.NewRequest("POST", "/api/graphql", bytes.NewReader(body))
	req.Header.Set("Authorization", "bearer "+classic)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	answer := rec.Body.Bytes()
	if len(answer) < 900_000 {
		b.Fatalf("the answer is %d bytes", len(answer))
	}
	b.Run("filter", func(b *testing.B) {
		var lookups atomic.Int64
		dec := decider(b, &lookups)
		b.ReportAllocs()
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			f := &Filter{Plans: []*Plan{plan}, Decide: dec}
			if err := f.Check(context.Background(), 200, http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(answer), io.Discard); err != nil {
				b.Fatal(err)
			}
			if n, _ := f.Removed(); n == 0 {
				b.Fatal("nothing removed")
			}
		}
	})
	b.Run("encoding-json-any", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			var v any
			if err := json.Unmarshal(answer, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
