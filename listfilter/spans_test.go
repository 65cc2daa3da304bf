package listfilter

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// cuts are the elements of the list in answer as the streaming reading
// cuts them: the reference spans are checked against.
func cuts(t *testing.T, answer []byte, route string) [][]byte {
	t.Helper()
	fr := &frames{buf: answer, eof: true, n: int64(len(answer)), total: MaxAnswer}
	if Match("GET", route).Container != Array {
		// Up to the list's opening bracket.
		i := bytes.Index(answer, []byte(`"items"`))
		if i < 0 {
			t.Fatal("no items")
		}
		fr.pos = i + len(`"items"`)
		if err := fr.expect(':'); err != nil {
			t.Fatal(err)
		}
	}
	src := &streamed{fr: fr, parser: &fastjson.Parser{}, kind: Repo}
	var out [][]byte
	var m members
	for {
		v, err := src.next(&m)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			return out
		}
		out = append(out, v)
	}
}

// TestSpans: where spans places an answer's elements is where the
// streaming reading cuts them, white space and all. An element it cannot
// place (an empty object, anything not an object) is left to marshalling,
// and so is every element when the answer's first one gives no anchor.
// It also pins what spans assumes of fastjson (its keys lie in one copy
// of the input): a fastjson that breaks it fails here, rather than
// quietly sending every page back to marshalling.
func TestSpans(t *testing.T) {
	page, err := os.ReadFile("testdata/user-repos-30.json")
	if err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, page, "\t", "  "); err != nil {
		t.Fatal(err)
	}
	search := []byte("{\"total_count\":3,\r\n\"items\" :\n[" + mixed[0] + " , " + pretty(mixed[1]) + "\n,\n" + mixed[2] + "\t] , \"incomplete_results\":false }")
	for _, tc := range []struct {
		name, route string
		answer      []byte
		placed      string // per element: p placed, - not
	}{
		{"a page of 30 GitHub repositories", "/user/repos", page, strings.Repeat("p", 30)},
		{"the page indented", "/user/repos", indented.Bytes(), strings.Repeat("p", 30)},
		{"a search answer with white space", "/search/repositories", search, "ppp"},
		{"one element", "/user/repos", []byte(list(mixed[3])), "p"},
		{"an empty element between", "/user/repos", []byte(list(mixed[3], `{}`, mixed[4], ` { } `, "\n"+pretty(mixed[0]))), "p-p-p"},
		{"elements that are not objects", "/user/repos", []byte(list(mixed[3], `7`, `"s"`, `[{"id":1}]`, mixed[4], `null`)), "p---p-"},
		{"the first element empty: no anchor", "/user/repos", []byte(list(`{}`, mixed[3], mixed[4])), "---"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p fastjson.Parser
			top, err := p.ParseBytes(tc.answer)
			if err != nil {
				t.Fatal(err)
			}
			list := top
			if top.Type() == fastjson.TypeObject {
				list = top.Get("items")
			}
			items, err := list.Array()
			if err != nil {
				t.Fatal(err)
			}
			firsts := make([][]byte, len(items))
			for i, el := range items {
				var m members
				firsts[i] = m.read(Repo, el)
			}
			sp := spans(tc.answer, top, firsts, nil)
			want := cuts(t, tc.answer, tc.route)
			if len(sp) != len(want) || len(sp) != len(tc.placed) {
				t.Fatalf("%d spans for %d elements", len(sp), len(want))
			}
			for i, s := range sp {
				if placed := s[1] > 0; placed != (tc.placed[i] == 'p') {
					t.Fatalf("element %d placed: %v, want %c", i, placed, tc.placed[i])
				}
				if got := tc.answer[s[0]:s[1]]; s[1] > 0 && !bytes.Equal(got, want[i]) {
					t.Fatalf("element %d: %q, want %q", i, got, want[i])
				}
			}
		})
	}
}
