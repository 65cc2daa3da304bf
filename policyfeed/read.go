package policyfeed

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// How much of a feed is read before its form is known. A feed is JSON (its
// first byte other than white space is "{") or a compact JWS (a base64url
// header, then "."), so a few bytes tell which it is; the JWS header, which
// names the algorithm, is a few dozen bytes in practice.
const (
	// maxLeadingSpace is the white space allowed before the first byte.
	maxLeadingSpace = 4 << 10
	// maxHeader bounds a JWS header segment, read whole and checked
	// before the payload is read.
	maxHeader = 16 << 10
	// jwsSniff is how much of a feed looksLikeJWS looks at.
	jwsSniff = 4 << 10
	// firstRead is the buffer a read starts with: a refusal on the first
	// bytes costs at most this much.
	firstRead = 32 << 10
)

// readFeed reads a feed from r, refusing it as soon as it is too large or
// its first bytes show that Load would refuse it:
//
//   - size, when known (a Content-Length, a file's size; -1 otherwise),
//     larger than exp's bound: refused before anything is read;
//   - more than the bound read: refused at the first byte over it;
//   - with a Verifier, plain JSON (ErrUnsigned) after its first byte; a JWS
//     whose header names another algorithm or carries crit
//     (ErrBadSignature) before its payload; a byte that cannot be part of
//     a compact JWS (ErrBadSignature) where it comes;
//   - without one, a JWS (ErrUnexpectedSignature) after its header;
//   - neither JSON nor a JWS, after its first byte (ErrBadSignature with a
//     Verifier, ErrInvalidFeed without, as Load would say).
//
// What it returns is then checked in full by Load. A refusal here implies
// one there (except for the bound and for more than 4 KiB of white space
// before the feed, which Load does not limit), so the checks only come
// earlier. Memory is bounded by the limit: a buffer of the known size, or
// one that doubles up to the limit.
func readFeed(r io.Reader, size int64, exp Expect) ([]byte, error) {
	limit := exp.limit()
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes, larger than %d bytes", ErrTooLarge, size, limit)
	}
	f := &feedReader{r: io.LimitReader(r, limit+1), limit: limit, size: size, buf: make([]byte, 0, min(firstRead, limit+1))}
	if err := f.screen(exp.Verifier); err != nil {
		return nil, err
	}
	f.screened = true
	for !f.eof {
		from := len(f.buf)
		if err := f.more(); err != nil {
			return nil, err
		}
		if f.jws != nil {
			if err := f.jws.check(f.buf, from); err != nil {
				return nil, err
			}
		}
	}
	return f.buf, nil
}

// feedReader holds what readFeed has read so far.
type feedReader struct {
	r     io.Reader // limited to limit+1 bytes
	limit int64
	size  int64 // the known size, or -1
	buf   []byte
	eof   bool
	// screened is set once the first bytes passed: only then is the
	// buffer grown to a known size at once.
	screened bool
	// jws, when set, checks each byte read after the header.
	jws *jwsChecker
}

// more reads at least one more byte into buf unless the feed ended.
func (f *feedReader) more() error {
	for {
		if len(f.buf) == cap(f.buf) {
			f.grow()
		}
		n, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
		f.buf = f.buf[:len(f.buf)+n]
		if int64(len(f.buf)) > f.limit {
			return fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, f.limit)
		}
		if err == io.EOF {
			f.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
}

// grow makes room: at once for the whole feed when its size is known and
// its first bytes were fine, else twice the room, never beyond limit+1.
func (f *feedReader) grow() {
	want := 2 * int64(cap(f.buf))
	if f.screened && f.size >= 0 {
		// +1 so that reaching the end needs no second buffer, and a
		// file that grew since its size was taken still ends at the
		// limit.
		want = max(want, f.size+1)
	}
	want = max(min(want, f.limit+1), int64(len(f.buf))+1)
	buf := make([]byte, len(f.buf), want)
	copy(buf, f.buf)
	f.buf = buf
}

// screen reads the first bytes and refuses the feed if they show Load would
// refuse it. It leaves f.jws set when the rest must be a JWS's payload and
// signature.
func (f *feedReader) screen(v *Verifier) error {
	// The first byte other than JSON white space.
	start := 0
	for {
		for start < len(f.buf) && isSpace(f.buf[start]) {
			start++
		}
		if start < len(f.buf) {
			break
		}
		if f.eof {
			return nil // empty: Load says why
		}
		if start > maxLeadingSpace {
			return notAFeed(v, fmt.Sprintf("more than %d bytes of white space before it", maxLeadingSpace))
		}
		if err := f.more(); err != nil {
			return err
		}
	}
	switch c := f.buf[start]; {
	case c == '{':
		if v != nil {
			return ErrUnsigned
		}
		return nil
	case !isBase64URL(c):
		return notAFeed(v, fmt.Sprintf("byte %d starts neither JSON nor a compact JWS", start))
	}
	// A JWS header: base64url up to the first ".".
	end := start
	for {
		for end < len(f.buf) && isBase64URL(f.buf[end]) {
			end++
		}
		if end < len(f.buf) {
			break
		}
		if f.eof {
			return nil // a fragment: Load says why
		}
		if end-start > maxHeader {
			return notAFeed(v, fmt.Sprintf("no JWS header in its first %d bytes", maxHeader))
		}
		if err := f.more(); err != nil {
			return err
		}
	}
	if f.buf[end] != '.' {
		return notAFeed(v, fmt.Sprintf("byte %d is neither base64url nor the end of a JWS header", end))
	}
	if v == nil {
		// Load calls a feed signed when its first 4 KiB look like a
		// JWS, and anything else that does not start with "{" invalid;
		// the same test on the same bytes gives the same answer.
		for len(f.buf)-start < jwsSniff && !f.eof {
			if err := f.more(); err != nil {
				return err
			}
		}
		if looksLikeJWS(f.buf[start:]) {
			return ErrUnexpectedSignature
		}
		return notAFeed(v, "it starts like a JWS but is not one")
	}
	if _, err := v.checkHeader(f.buf[start:end]); err != nil {
		return err
	}
	f.jws = &jwsChecker{dots: 1}
	return f.jws.check(f.buf, end+1)
}

// notAFeed refuses bytes that are neither JSON nor a JWS with the error Load
// would give them: a bad signature when one is required, an invalid feed
// when JSON is.
func notAFeed(v *Verifier, why string) error {
	if v != nil {
		return fmt.Errorf("%w: not a compact JWS (header.payload.signature): %s", ErrBadSignature, why)
	}
	return fmt.Errorf("%w: not JSON: %s", ErrInvalidFeed, why)
}

// jwsChecker follows a JWS's payload and signature as they are read, so
// that junk after a good header is refused where it starts instead of at
// the size bound: base64url, one more ".", then only trailing white space.
type jwsChecker struct {
	dots     int
	trailing bool
}

// check looks at buf[from:], the bytes read since the last call.
func (j *jwsChecker) check(buf []byte, from int) error {
	for i := from; i < len(buf); i++ {
		if !j.trailing {
			if i += base64URLRun(buf[i:]); i == len(buf) {
				return nil
			}
		}
		switch c := buf[i]; {
		case j.trailing && !isSpace(c):
			return fmt.Errorf("%w: not a compact JWS: byte %d follows white space", ErrBadSignature, i)
		case j.trailing:
		case c == '.':
			j.dots++
			if j.dots > 2 {
				return fmt.Errorf("%w: not a compact JWS: more than three parts", ErrBadSignature)
			}
		case isSpace(c):
			j.trailing = true
		default:
			return fmt.Errorf("%w: not a compact JWS: byte %d is not base64url", ErrBadSignature, i)
		}
	}
	return nil
}

// base64URL marks the base64url alphabet (RFC 4648 §5), unpadded as JWS
// uses it.
var base64URL = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

func isBase64URL(c byte) bool { return base64URL[c] }

// base64URLRun returns how many bytes b starts with that are base64url.
// Nearly every byte of a JWS is, so it takes eight at a time: twice as fast
// as one by one, about 2 GB/s, a tenth of a second on a 250 MB feed.
func base64URLRun(b []byte) int {
	n := 0
	for len(b) >= 8 && base64URL[b[0]] && base64URL[b[1]] && base64URL[b[2]] && base64URL[b[3]] &&
		base64URL[b[4]] && base64URL[b[5]] && base64URL[b[6]] && base64URL[b[7]] {
		b = b[8:]
		n += 8
	}
	for _, c := range b {
		if !base64URL[c] {
			break
		}
		n++
	}
	return n
}

// isSpace reports JSON white space, the only kind a feed may start or end
// with.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isRefusal reports whether err refuses a feed's content, as opposed to a
// source that could not be read: the watcher counts the one as a rejection
// and the other as an outage.
func isRefusal(err error) bool {
	for _, e := range []error{ErrTooLarge, ErrUnsigned, ErrUnexpectedSignature, ErrBadSignature, ErrInvalidFeed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refusalSum is what a source remembers of a refusal in place of a feed's
// hash. A refusal is decided by the bytes read so far, and the error says
// how; the same error twice in a row is the same refusal, reported once
// like an unchanged feed. A fix changes those bytes and so the outcome.
func refusalSum(err error) [sha256.Size]byte {
	return sha256.Sum256([]byte("refused\x00" + err.Error()))
}
