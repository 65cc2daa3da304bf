package listfilter

import (
	"bytes"
	"encoding/json"
	"os"
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
	src := &streamed{fr: fr, parser: &fastjson.Parser{}}
	var out [][]byte
	for {
		v, el, err := src.next()
		if err != nil {
			t.Fatal(err)
		}
		if el == nil {
			return out
		}
		out = append(out, v)
	}
}

// TestSpans: where spans finds an answer's elements is where the
// streaming reading cuts them, white space and all; answers it cannot
// place for certain (an escape anywhere, an element that is not an object
// with a member) are left to marshalling.
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
		ok          bool
	}{
		{"a page of 30 GitHub repositories", "/user/repos", page, true},
		{"the page indented", "/user/repos", indented.Bytes(), true},
		{"a search answer with white space", "/search/repositories", search, true},
		{"one element", "/user/repos", []byte(list(mixed[3])), true},
		{"an escape anywhere", "/user/repos", []byte(list(mixed[3], `{"full_name":"bob/x","description":"\"q\""}`)), false},
		{"an escaped key", "/user/repos", []byte(list(`{"full\u005fname":"bob/x"}`)), false},
		{"an empty element", "/user/repos", []byte(list(mixed[3], `{}`, mixed[4])), false},
		{"an element that is not an object", "/user/repos", []byte(list(mixed[3], `7`, mixed[4])), false},
		{"no elements", "/user/repos", []byte(`[]`), false},
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
			sp, ok := spans(tc.answer, top, items, nil)
			if ok != tc.ok {
				t.Fatalf("spans found: %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			want := cuts(t, tc.answer, tc.route)
			if len(sp) != len(want) {
				t.Fatalf("%d spans, want %d", len(sp), len(want))
			}
			for i, s := range sp {
				if got := tc.answer[s[0]:s[1]]; !bytes.Equal(got, want[i]) {
					t.Fatalf("element %d: %q, want %q", i, got, want[i])
				}
			}
		})
	}
}
