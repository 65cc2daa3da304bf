package answerbody

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"testing"
)

// TestOpen: which answers are checked, passed, or refused, and the
// encodings read.
func TestOpen(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		io.WriteString(w, s)
		w.Close()
		return b.Bytes()
	}
	zl := func(s string) []byte {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		io.WriteString(w, s)
		w.Close()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		enc    string
		body   []byte
		pass   bool
		want   string
		err    error
	}{
		{"JSON", 200, "application/json; charset=utf-8", "", []byte(`[1]`), false, `[1]`, nil},
		{"a +json type", 200, "application/vnd.github+json", "identity", []byte(`[1]`), false, `[1]`, nil},
		{"gzip", 200, "application/json", "gzip", gz(`[2]`), false, `[2]`, nil},
		{"x-gzip", 200, "application/json", "X-GZIP", gz(`[2]`), false, `[2]`, nil},
		{"deflate", 200, "application/json", "deflate", zl(`[3]`), false, `[3]`, nil},
		{"a redirect passes", 301, "", "", []byte(`moved`), true, `moved`, nil},
		{"an error passes", 404, "application/json", "br", []byte(`{"message":"x"}`), true, `{"message":"x"}`, nil},
		{"a range is refused", 206, "application/json", "", []byte(`[1`), false, "", ErrNotJSON},
		{"not JSON", 200, "text/html", "", []byte(`<p>`), false, "", ErrNotJSON},
		{"no type", 200, "", "", []byte(`[1]`), false, "", ErrNotJSON},
		{"an unknown encoding", 200, "application/json", "br", []byte(`x`), false, "", ErrEncoding},
		{"gzip that is not", 200, "application/json", "gzip", []byte(`[1]`), false, "", ErrEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tc.ctype}, "Content-Encoding": {tc.enc}}
			r, closeFn, pass, err := Open(tc.status, h, bytes.NewReader(tc.body))
			defer closeFn()
			if !errors.Is(err, tc.err) || pass != tc.pass {
				t.Fatalf("pass %v, err %v", pass, err)
			}
			if err != nil {
				return
			}
			got, _ := io.ReadAll(r)
			if string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}
