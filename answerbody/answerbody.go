// Package answerbody opens an upstream answer that an answer check
// (SPEC §10–§11) must read: it says which answers carry JSON to check and
// decodes the content encodings a host may use, so that every check reads
// the bytes a client would.
package answerbody

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Errors of an answer that cannot be checked; the handler answers 502.
// They name the status, type or encoding, never the answer's bytes.
var (
	ErrNotJSON  = errors.New("the answer is not the JSON its request returns")
	ErrEncoding = errors.New("the answer's content encoding cannot be read")
)

// Open decides what to do with an answer. Redirects, 304s and errors
// (status ≥ 300) carry nothing to check: pass is true and the caller
// copies them as they are. A 200 must be JSON; it returns the decoded
// body and a close function for the decoder. Any other success (a 206
// range, which would hand out the unchecked bytes a piece at a time) is
// refused.
func Open(status int, h http.Header, body io.Reader) (r io.Reader, closeFn func(), pass bool, err error) {
	nop := func() {}
	switch {
	case status >= 300:
		return body, nop, true, nil
	case status != http.StatusOK:
		return nil, nop, false, fmt.Errorf("%w: status %d", ErrNotJSON, status)
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, nop, false, ErrNotJSON
	}
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nop, false, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, nop, false, fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		return zr, func() { zr.Close() }, false, nil
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return nil, nop, false, fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		return zr, func() { zr.Close() }, false, nil
	default:
		return nil, nop, false, fmt.Errorf("%w: %s", ErrEncoding, enc)
	}
}

// Read hands read the decoded JSON of an answer to check (Open), and
// copies to out, untouched, an answer that carries nothing to check.
func Read(status int, h http.Header, body io.Reader, out io.Writer, read func(io.Reader) error) error {
	r, closeFn, pass, err := Open(status, h, body)
	if pass {
		_, err := io.Copy(out, r)
		return err
	}
	if err != nil {
		return err
	}
	defer closeFn()
	return read(r)
}
