package policyfeed

import (
	"bytes"
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

// FuzzReadFeed checks that refusing a feed while it is read never refuses
// what Load would accept, and passes on what it does not refuse unchanged,
// with a key and without. (More than 4 KiB of white space before a feed is
// the one refusal Load does not share.)
func FuzzReadFeed(f *testing.F) {
	k := keysOnce(f)
	v := ecVerifier(f)
	signed := mustSign(f, `{"version": 1}`, k.ec, false)
	f.Add(signed)
	f.Add(append([]byte("\n"), signed...))
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(`eyJhbGciOiJub25lIn0.eyJ2ZXJzaW9uIjoxfQ.`))
	f.Add([]byte("abc.def ghi"))
	f.Add([]byte("<html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data)-len(bytes.TrimLeft(data, " \t\r\n")) > maxLeadingSpace {
			return
		}
		for _, v := range []*Verifier{nil, v} {
			got, err := readFeed(bytes.NewReader(data), -1, Expect{Verifier: v})
			if err != nil {
				if _, loadErr := Load(data, v); loadErr == nil {
					t.Fatalf("refused %v a feed Load accepts", err)
				}
				continue
			}
			if !bytes.Equal(got, data) {
				t.Fatal("passed on other bytes than it read")
			}
		}
	})
}
