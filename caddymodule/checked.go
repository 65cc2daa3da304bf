package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/patgate/patgate/gate"
	"github.com/patgate/patgate/target"
)

// serveChecked forwards a request whose answer the gate wants to check
// (SPEC §10–§11) and passes the upstream's answer through the check. An
// answer of up to heldAnswer bytes is held and checked once it is whole,
// in this goroutine; a larger one streams: the next handler writes into a
// pipe, the check reads it in its own goroutine and writes what the client
// may see. Either way the glue holds at most heldAnswer bytes; the check
// bounds its own memory.
func serveChecked(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, check gate.AnswerCheck, s target.Surface) error {
	cw := &checkedWriter{header: make(http.Header), done: make(chan error, 1)}
	if b, ok := heldAnswers.Get().(*[]byte); ok {
		cw.held = (*b)[:0]
	}
	cw.check = func(body io.Reader) error {
		out := &clientWriter{w: w, status: cw.status, header: cw.header}
		err := check.Check(r.Context(), cw.status, cw.header, body, out)
		switch {
		case err != nil && !out.wrote:
			err = writeError(w, r, s, http.StatusBadGateway, "patgate: the answer could not be checked: "+err.Error())
		case !out.wrote:
			out.writeHeader()
		}
		return err
	}
	err := cw.serve(next, r)
	defer cw.release()
	switch {
	case !cw.started:
		// The upstream wrote nothing at all: nothing to check.
		return err
	case cw.pw == nil:
		// The whole answer is held; a copy that failed half-way reaches
		// the check as a read error, as it would have streamed.
		var body io.Reader = heldBody{bytes.NewReader(cw.held), cw.held}
		if err != nil {
			body = io.MultiReader(bytes.NewReader(cw.held), errReader{err})
		}
		if cerr := cw.check(body); err == nil {
			err = cerr
		}
		return err
	}
	cw.pw.CloseWithError(err) // nil: io.EOF for the check
	cerr := <-cw.done
	if cw.finished.Load() && errors.Is(err, errCheckDone) || cw.cutShort {
		// The check was done before the upstream: its copy failed on
		// purpose, and the client has the check's answer.
		err = nil
	}
	if err == nil {
		err = cerr
	}
	return err
}

// heldAnswer bounds the answer held whole before it is checked: a page
// of 100 GitHub repositories fits. Checking a held answer costs no
// goroutine and no hand-over per write, which is most of what checking a
// page adds to its latency.
const heldAnswer = 1 << 20

var heldAnswers sync.Pool

// heldBody is a whole answer in memory, which a check may read where it
// lies (listfilter.Held).
type heldBody struct {
	*bytes.Reader
	b []byte
}

func (h heldBody) Held() []byte { return h.b }

// errReader reads as the error it holds, or io.EOF.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// serve runs the next handler. reverse_proxy aborts a copy that fails after
// the header went out by panicking with http.ErrAbortHandler, which would
// drop the client's connection; when the failure is the check having
// closed the pipe, the client has its answer, so the panic is recovered.
func (cw *checkedWriter) serve(next caddyhttp.Handler, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler && cw.finished.Load() {
				cw.cutShort = true
				return
			}
			panic(p)
		}
	}()
	return next.ServeHTTP(cw, r)
}

// errCheckDone ends the upstream's writes once the check has returned.
var errCheckDone = errors.New("the answer check is done")

// checkedWriter is what the next handler writes the upstream's answer to:
// held while it fits in heldAnswer bytes, then streamed to the check
// through a pipe.
type checkedWriter struct {
	header  http.Header
	status  int
	started bool
	held    []byte
	check   func(body io.Reader) error
	pw      *io.PipeWriter
	done    chan error
	// finished is set when a streaming check returned, before it closes
	// the pipe; cutShort when the upstream's copy was aborted because of it.
	finished atomic.Bool
	cutShort bool
}

func (cw *checkedWriter) Header() http.Header { return cw.header }

func (cw *checkedWriter) WriteHeader(status int) {
	if cw.started || status < 200 {
		// 1xx interim answers are not the answer; nothing to check.
		return
	}
	cw.started, cw.status = true, status
}

func (cw *checkedWriter) Write(p []byte) (int, error) {
	if !cw.started {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.pw == nil && len(cw.held)+len(p) <= heldAnswer {
		cw.held = append(cw.held, p...)
		return len(p), nil
	}
	if cw.pw == nil {
		// Too large to hold: the check starts on what is held and reads
		// the rest as it comes.
		pr, pw := io.Pipe()
		cw.pw = pw
		held := bytes.NewReader(cw.held)
		go func() {
			err := cw.check(io.MultiReader(held, pr))
			// Whatever the check did not read is not wanted: the
			// upstream's next write fails instead of blocking.
			cw.finished.Store(true)
			pr.CloseWithError(errCheckDone)
			cw.done <- err
		}()
	}
	return cw.pw.Write(p)
}

// release returns the held answer's buffer once nothing reads it.
func (cw *checkedWriter) release() {
	if cap(cw.held) <= heldAnswer {
		b := cw.held[:0]
		heldAnswers.Put(&b)
	}
	cw.held = nil
}

// Flush does nothing: the client sees nothing before the check wrote it,
// and the check flushes what it writes when it writes it.
func (cw *checkedWriter) Flush() {}

// clientWriter is where the check writes: its first write sends the
// header the check left, with the upstream's status.
type clientWriter struct {
	w      http.ResponseWriter
	status int
	header http.Header
	wrote  bool
}

func (c *clientWriter) writeHeader() {
	c.wrote = true
	dst := c.w.Header()
	for k, v := range c.header {
		dst[k] = v
	}
	c.w.WriteHeader(c.status)
}

func (c *clientWriter) Write(p []byte) (int, error) {
	if !c.wrote {
		c.writeHeader()
	}
	return c.w.Write(p)
}
