package caddymodule

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/patgate/patgate/gate"
	"github.com/patgate/patgate/target"
)

// serveChecked forwards a request whose answer the gate wants to check
// (SPEC §10–§11) and streams the upstream's answer through the check: the
// next handler writes into a pipe, the check reads it and writes what the
// client may see. Nothing holds the whole answer; the check bounds its own
// memory.
func serveChecked(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, check gate.AnswerCheck, s target.Surface) error {
	pr, pw := io.Pipe()
	cw := &checkedWriter{header: make(http.Header), pw: pw, done: make(chan error, 1)}
	cw.start = func(status int) {
		go func() {
			out := &clientWriter{w: w, status: status, header: cw.header}
			err := check.Check(r.Context(), status, cw.header, pr, out)
			// Whatever the check did not read is not wanted: the upstream's
			// next write fails instead of blocking.
			cw.finished.Store(true)
			pr.CloseWithError(errCheckDone)
			switch {
			case err != nil && !out.wrote:
				err = writeError(w, r, s, http.StatusBadGateway, "patgate: the answer could not be checked: "+err.Error())
			case !out.wrote:
				out.writeHeader()
			}
			cw.done <- err
		}()
	}
	err := cw.serve(next, r)
	if !cw.started {
		// The upstream wrote nothing at all: nothing to check.
		pw.Close()
		return err
	}
	pw.CloseWithError(err) // nil: io.EOF for the check
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

// checkedWriter is what the next handler writes the upstream's answer to.
type checkedWriter struct {
	header  http.Header
	pw      *io.PipeWriter
	start   func(status int)
	started bool
	done    chan error
	// finished is set when the check returned, before it closes the
	// pipe; cutShort when the upstream's copy was aborted because of it.
	finished atomic.Bool
	cutShort bool
}

func (cw *checkedWriter) Header() http.Header { return cw.header }

func (cw *checkedWriter) WriteHeader(status int) {
	if cw.started || status < 200 {
		// 1xx interim answers are not the answer; nothing to check.
		return
	}
	cw.started = true
	cw.start(status)
}

func (cw *checkedWriter) Write(p []byte) (int, error) {
	if !cw.started {
		cw.WriteHeader(http.StatusOK)
	}
	return cw.pw.Write(p)
}

// Flush does nothing: the pipe holds no data, and the check flushes what
// it writes when it writes it.
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
