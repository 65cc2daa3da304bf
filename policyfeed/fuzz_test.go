package policyfeed

import (
	"testing"
)

// FuzzParse feeds arbitrary bytes to the feed parser: no panic, and an
// accepted feed is a well-formed policy that parses the same way twice.
// Seeds are in testdata/fuzz/FuzzParse and the valid-*/invalid-* fixtures.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(`{"version": 2, "organizations": [{"login": "a", "owners": ["x"]}], "tokens": [{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "organizations": {"a": "approved"}}]}`))
	f.Add([]byte(`eyJhbGciOiJub25lIn0.eyJ2ZXJzaW9uIjoxfQ.`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load(data, nil)
		if err != nil {
			if p != nil {
				t.Fatal("a policy with an error")
			}
			return
		}
		if p.Version() <= 0 {
			t.Fatalf("accepted version %d", p.Version())
		}
		again, err := Parse(data)
		if err != nil || again.Version() != p.Version() {
			t.Fatalf("parsing again: %v", err)
		}
		o1, t1 := p.Counts()
		o2, t2 := again.Counts()
		if o1 != o2 || t1 != t2 {
			t.Fatal("parsing again gave other counts")
		}
	})
}
