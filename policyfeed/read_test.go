package policyfeed

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func ecVerifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewVerifier(pubPEM(t, &keysOnce(t).ec.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// allocated returns the bytes fn allocated, garbage included: an upper
// bound on how much the heap could grow while it ran.
func allocated(fn func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// repeatReader yields prefix, then fill over and over, n bytes in all,
// without holding them.
type repeatReader struct {
	prefix, fill []byte
	n, off       int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	var k int
	for k < len(p) {
		if r.off < int64(len(r.prefix)) {
			c := copy(p[k:], r.prefix[r.off:])
			k += c
			r.off += int64(c)
			continue
		}
		i := (r.off - int64(len(r.prefix))) % int64(len(r.fill))
		c := copy(p[k:], r.fill[i:])
		k += c
		r.off += int64(c)
	}
	return k, nil
}

func TestReadFeed(t *testing.T) {
	k := keysOnce(t)
	v := ecVerifier(t)
	const feed = `{"version": 3}`
	signed := string(mustSign(t, feed, k.ec, false))
	es256 := b64(`{"alg":"ES256","typ":"JWT"}`)
	big := func(prefix, fill string, n int64) func() io.Reader {
		return func() io.Reader { return &repeatReader{prefix: []byte(prefix), fill: []byte(fill), n: n} }
	}
	text := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	tests := []struct {
		name    string
		body    func() io.Reader
		size    int64 // -1: unknown, as for a chunked answer
		exp     Expect
		wantErr error
		wantMsg string
		// maxRead bounds the bytes read before a refusal.
		maxRead int64
	}{
		{name: "JSON without a key", body: text(feed), size: -1},
		{name: "JSON after white space", body: text(" \r\n\t" + feed + "\n"), size: -1},
		{name: "signed feed with its key", body: text(signed + "\n"), size: int64(len(signed) + 1), exp: Expect{Verifier: v}},
		{name: "empty: for Load to refuse", body: text(""), size: 0, exp: Expect{Verifier: v}},
		{name: "a fragment: for Load to refuse", body: text("eyJhbGciOi"), size: -1, exp: Expect{Verifier: v}},
		{name: "exactly at the bound", body: text(feed), size: -1, exp: Expect{MaxSize: int64(len(feed))}},

		{name: "unsigned with a key", body: big(feed[:len(feed)-1]+`, "tokens": [`, `{"sha256": "x"},`, 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrUnsigned, maxRead: firstRead},
		{name: "signed without a key", body: big(es256+".", "QUFB", 100<<20), size: -1,
			wantErr: ErrUnexpectedSignature, maxRead: firstRead},
		{name: "another algorithm", body: big(b64(`{"alg":"HS256"}`)+".", "QUFB", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: `algorithm "HS256" is not accepted`, maxRead: firstRead},
		{name: "alg none", body: big(b64(`{"alg":"none"}`)+".", "QUFB", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: `algorithm "none"`, maxRead: firstRead},
		{name: "critical header", body: big(b64(`{"alg":"ES256","crit":["exp"]}`)+".", "QUFB", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "critical header", maxRead: firstRead},
		{name: "unreadable header", body: big("AAAA.", "QUFB", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "unreadable header", maxRead: firstRead},
		{name: "header over 16 KiB", body: big("", "QUFB", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "no JWS header in its first 16384 bytes", maxRead: 2 * firstRead},
		{name: "junk with a key", body: big("\x00", "\xff", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "byte 0 starts neither JSON nor a compact JWS", maxRead: firstRead},
		{name: "junk without a key", body: big("<html>", "junk", 100<<20), size: -1,
			wantErr: ErrInvalidFeed, wantMsg: "byte 0 starts neither", maxRead: firstRead},
		{name: "white space only", body: big("", " ", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "more than 4096 bytes of white space", maxRead: firstRead},
		{name: "good header, junk 1 MiB into the payload", body: big(es256+"."+strings.Repeat("A", 1<<20)+"\x00", "\x00", 100<<20), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "is not base64url", maxRead: 2 << 20},
		{name: "four parts", body: text(es256 + ".QUFB.QUFB.QUFB"), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "more than three parts", maxRead: 1 << 10},
		{name: "data after trailing white space", body: text(signed + "\n" + signed), size: -1,
			exp: Expect{Verifier: v}, wantErr: ErrBadSignature, wantMsg: "follows white space", maxRead: 1 << 10},
		{name: "announced size over the bound", body: big(signed, "A", 900_000_000), size: 900_000_000,
			exp: Expect{Verifier: v}, wantErr: ErrTooLarge, wantMsg: "900000000 bytes, larger than 268435456 bytes", maxRead: 0},
		{name: "streamed past the bound", body: big(es256+".", "QUFB", 100<<20), size: -1,
			exp: Expect{Verifier: v, MaxSize: 1 << 20}, wantErr: ErrTooLarge, wantMsg: "larger than 1048576 bytes", maxRead: 1<<20 + 1},
		{name: "one byte over the bound", body: text(feed), size: -1,
			exp: Expect{MaxSize: int64(len(feed)) - 1}, wantErr: ErrTooLarge, maxRead: int64(len(feed))},
		{name: "a size that understated the file", body: text(feed + "    "), size: int64(len(feed)),
			exp: Expect{MaxSize: int64(len(feed))}, wantErr: ErrTooLarge, maxRead: int64(len(feed)) + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{r: tc.body()}
			data, err := readFeed(r, tc.size, tc.exp)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("readFeed: %v", err)
				}
				var want bytes.Buffer
				_, _ = want.ReadFrom(tc.body())
				if !bytes.Equal(data, want.Bytes()) {
					t.Errorf("read %q, want the body as sent", data)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("readFeed = %v, want %v with %q", err, tc.wantErr, tc.wantMsg)
			}
			if data != nil {
				t.Error("data returned with a refusal")
			}
			if r.n > tc.maxRead {
				t.Errorf("read %d bytes before refusing, want at most %d", r.n, tc.maxRead)
			}
		})
	}
}

// TestReadFeedAgreesWithLoad: refusing early must not change what is
// refused, nor why. Each feed Load refuses, readFeed either passes on
// unchanged (for Load to refuse) or refuses with the same error, and what
// Load accepts readFeed passes on as it was.
func TestReadFeedAgreesWithLoad(t *testing.T) {
	k := keysOnce(t)
	v := ecVerifier(t)
	const feed = `{"version": 3}`
	valid := mustSign(t, feed, k.ec, false)
	parts := strings.Split(string(valid), ".")
	header := func(alg string) string { return b64(`{"alg":"` + alg + `","typ":"JWT"}`) }
	inputs := map[string]string{
		"valid signed":          string(valid),
		"valid unsigned":        feed,
		"other key":             string(mustSign(t, feed, k.otherEC, false)),
		"other key type":        string(mustSign(t, feed, k.rsa, false)),
		"alg none":              header("none") + "." + b64(feed) + ".",
		"stripped signature":    parts[0] + "." + parts[1] + ".",
		"two parts":             parts[0] + "." + parts[1],
		"tampered payload":      parts[0] + "." + b64(`{"version": 9}`) + "." + parts[2],
		"critical header":       b64(`{"alg":"ES256","crit":["exp"]}`) + "." + parts[1] + "." + parts[2],
		"unreadable header":     "!!!." + parts[1] + "." + parts[2],
		"invalid inside":        string(mustSign(t, `{"version": 0}`, k.ec, false)),
		"empty":                 "",
		"white space":           " \n ",
		"html":                  "<html>502 Bad Gateway</html>",
		"JSON array":            "[1, 2]",
		"padded base64 header":  parts[0] + "==." + parts[1] + "." + parts[2],
		"line-wrapped payload":  parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2],
		"trailing white space":  string(valid) + "\r\n",
		"leading white space":   "\n" + string(valid),
		"malformed JSON":        `{"version": 3`,
		"JWS-looking text":      "hello.world",
		"one dot and then junk": "abc.def ghi",
	}
	for name, data := range inputs {
		for _, key := range []struct {
			name string
			v    *Verifier
		}{{"no key", nil}, {"key", v}} {
			t.Run(name+", "+key.name, func(t *testing.T) {
				_, loadErr := Load([]byte(data), key.v)
				got, err := readFeed(strings.NewReader(data), -1, Expect{Verifier: key.v})
				if err == nil {
					if string(got) != data {
						t.Fatalf("passed on %q, want %q", got, data)
					}
					return
				}
				if loadErr == nil {
					t.Fatalf("refused %v a feed Load accepts", err)
				}
				for _, sentinel := range []error{ErrUnsigned, ErrUnexpectedSignature, ErrBadSignature, ErrInvalidFeed} {
					if errors.Is(err, sentinel) && !errors.Is(loadErr, sentinel) {
						t.Errorf("refused with %v, Load with %v", err, loadErr)
					}
				}
			})
		}
	}
}

// BenchmarkReadFeed reads a signed feed of 1,000,000 tokens as a source
// does, against the default bound, with its size known (a file, a
// Content-Length) and unknown (a chunked answer): the cost of checking each
// byte of a JWS on the way in.
func BenchmarkReadFeed(b *testing.B) {
	k := keysOnce(b)
	v := ecVerifier(b)
	data := mustSign(b, string(largeFeed(1_000_000, 10_000)), k.ec, false)
	for _, size := range []struct {
		name string
		n    int64
	}{{"known-size", int64(len(data))}, {"chunked", -1}} {
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readFeed(bytes.NewReader(data), size.n, Expect{Verifier: v}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
