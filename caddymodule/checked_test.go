package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/patgate/patgate/target"
)

// dropPrivate is an answer check of the kind SPEC §10 asks for, kept
// small: it streams a JSON array element by element, drops the elements
// marked private, and says so in a header. It exercises the glue, not a
// policy.
type dropPrivate struct{ stopAfter int }

func (d dropPrivate) Check(_ context.Context, status int, h http.Header, body io.Reader, out io.Writer) error {
	dec := json.NewDecoder(body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return errors.New("not a JSON array")
	}
	h.Del("ETag")
	h.Del("Content-Length")
	h.Set("X-PAT-Policy", "partial-results")
	if _, err := io.WriteString(out, "["); err != nil {
		return err
	}
	n := 0
	for dec.More() {
		var el struct {
			Name    string `json:"name"`
			Private bool   `json:"private"`
		}
		if err := dec.Decode(&el); err != nil {
			return err
		}
		if el.Private {
			continue
		}
		if n > 0 {
			io.WriteString(out, ",")
		}
		n++
		b, _ := json.Marshal(el)
		if _, err := out.Write(b); err != nil {
			return err
		}
		if d.stopAfter > 0 && n == d.stopAfter {
			break
		}
	}
	_, err := io.WriteString(out, "]")
	return err
}

// upstream writes an answer in chunks, as reverse_proxy copies one.
func upstream(status int, chunks ...string) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Link", `<https://git.example.com/api/v3/user/repos?page=2>; rel="next"`)
		w.WriteHeader(status)
		for _, c := range chunks {
			if _, err := w.Write([]byte(c)); err != nil {
				return err
			}
		}
		return nil
	})
}

// failing writes chunks of an answer, then fails as a copy from a
// vanished upstream does.
func failing(status int, chunks ...string) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := upstream(status, chunks...).ServeHTTP(w, r); err != nil {
			return err
		}
		return errUpstreamGone
	})
}

var errUpstreamGone = errors.New("upstream gone")

func TestServeChecked(t *testing.T) {
	list := []string{`[{"name":"a","private":false},`, `{"name":"b","pri`, `vate":true},{"name":"c","private":false}]`}
	tests := []struct {
		name   string
		check  dropPrivate
		next   caddyhttp.Handler
		status int
		body   string
		header map[string]string
	}{
		{"elements dropped, header changed, Link kept", dropPrivate{}, upstream(200, list...), 200,
			`[{"name":"a","private":false},{"name":"c","private":false}]`,
			map[string]string{"ETag": "", "X-PAT-Policy": "partial-results", "Link": `<https://git.example.com/api/v3/user/repos?page=2>; rel="next"`}},
		{"an answer that is not what it claims: 502 in the REST shape", dropPrivate{}, upstream(200, `{"not":"a list"}`), 502,
			`"message":"patgate: the answer could not be checked: not a JSON array"`, map[string]string{"ETag": ""}},
		{"the check stops early: the upstream's writes end", dropPrivate{stopAfter: 1}, upstream(200, list...), 200,
			`[{"name":"a","private":false}]`, nil},
		{"the status is the upstream's", dropPrivate{}, upstream(201, `[]`), 201, `[]`, nil},
		{"a streamed answer: the check stops early, the upstream's writes end", dropPrivate{stopAfter: 1},
			upstream(200, append(list[:1:1], strings.Repeat(`{"name":"b","private":true},`, 2*heldAnswer/28), list[1], list[2])...), 200,
			`[{"name":"a","private":false}]`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/api/v3/user/repos", nil)
			_ = serveChecked(rec, r, tc.next, tc.check, target.REST)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Body.String(); !strings.Contains(got, tc.body) {
				t.Fatalf("body %s, want %s", got, tc.body)
			}
			for k, v := range tc.header {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
	// An upstream that vanishes half-way: held or streamed, the check
	// reads the failure, not a clean end, and the answer is not completed.
	for name, next := range map[string]caddyhttp.Handler{
		"held":     failing(200, list[0]),
		"streamed": failing(200, list[0], strings.Repeat(`{"name":"b","private":true},`, 2*heldAnswer/28)),
	} {
		t.Run("a "+name+" answer cut short by the upstream", func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := serveChecked(rec, httptest.NewRequest("GET", "/", nil), next, dropPrivate{}, target.REST)
			if !errors.Is(err, errUpstreamGone) || strings.HasSuffix(rec.Body.String(), "]") {
				t.Fatalf("err %v, body %q", err, rec.Body)
			}
		})
	}
	t.Run("an upstream that writes nothing", func(t *testing.T) {
		rec := httptest.NewRecorder()
		boom := errors.New("upstream down")
		err := serveChecked(rec, httptest.NewRequest("GET", "/", nil),
			caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return boom }), dropPrivate{}, target.REST)
		if !errors.Is(err, boom) || rec.Body.Len() != 0 {
			t.Fatalf("err %v, body %q", err, rec.Body)
		}
	})
}

// TestServeCheckedStreams: a 100,000-element answer (2.9 MB) passes
// through the check without the glue holding it: past heldAnswer bytes the
// check reads as the upstream writes, and has written its first element
// before the upstream has written the last.
func TestServeCheckedStreams(t *testing.T) {
	seen := make(chan struct{})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(200)
		io.WriteString(w, "[")
		written, checked := 1, false
		for i := range 100_000 {
			if i > 0 {
				io.WriteString(w, ",")
				written++
			}
			n, _ := io.WriteString(w, `{"name":"r","private":false}`)
			written += n
			if written > heldAnswer+64<<10 && !checked {
				// The pipe holds nothing: the check must have taken the
				// first elements already for this write to have returned.
				checked = true
				select {
				case <-seen:
				default:
					t.Errorf("the check has seen nothing after %d bytes", written)
				}
			}
		}
		io.WriteString(w, "]")
		return nil
	})
	rec := httptest.NewRecorder()
	check := firstSeen{dropPrivate{}, seen}
	if err := serveChecked(rec, httptest.NewRequest("GET", "/", nil), next, check, target.REST); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(rec.Body.String(), `"name"`); n != 100_000 {
		t.Fatalf("%d elements reached the client", n)
	}
}

// firstSeen closes seen at the check's first write.
type firstSeen struct {
	dropPrivate
	seen chan struct{}
}

func (f firstSeen) Check(ctx context.Context, status int, h http.Header, body io.Reader, out io.Writer) error {
	return f.dropPrivate.Check(ctx, status, h, body, &signalWriter{Writer: out, seen: f.seen})
}

type signalWriter struct {
	io.Writer
	seen chan struct{}
	once bool
}

func (s *signalWriter) Write(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.seen)
	}
	return s.Writer.Write(p)
}

// TestServeCheckedAbort: reverse_proxy panics with http.ErrAbortHandler
// when its copy fails after the header went out. When the copy failed
// because the check was done with the answer (it refused it, or stopped
// reading), the client already has the check's answer: the panic must not
// drop the connection.
func TestServeCheckedAbort(t *testing.T) {
	proxyLike := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		for range 1000 {
			if _, err := io.WriteString(w, `{"not":"a list"}`); err != nil {
				panic(http.ErrAbortHandler)
			}
		}
		return nil
	})
	rec := httptest.NewRecorder()
	err := serveChecked(rec, httptest.NewRequest("GET", "/", nil), proxyLike, dropPrivate{}, target.REST)
	if err != nil || rec.Code != 502 || !strings.Contains(rec.Body.String(), "could not be checked") {
		t.Fatalf("err %v, status %d: %s", err, rec.Code, rec.Body)
	}
	// Any other panic is not the check's doing and goes on.
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the handler's own panic", p)
		}
	}()
	_ = serveChecked(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil),
		caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { panic("boom") }), dropPrivate{}, target.REST)
}
