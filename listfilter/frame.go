package listfilter

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/valyala/fastjson"
)

// frames cuts a stream of JSON into values without decoding them: it finds
// where the next value ends and hands out its bytes, which the caller
// parses (fastjson validates and reads one element in a single pass). Only
// the current value is held, at most MaxElement bytes plus one read; the
// scan resumes where the last read stopped, so an element arriving in many
// reads is scanned once.
type frames struct {
	r     io.Reader
	buf   []byte
	pos   int   // start of what is not consumed yet
	n     int64 // bytes read from r
	total int64 // bound on n: the whole answer's
	eof   bool
	err   error
}

// Errors of the answer's syntax. They say where, never what: the answer
// may be what the token must not see, and errors reach the client.
var (
	errTruncated = errors.New("the answer ends inside a JSON value")
	errSyntax    = errors.New("invalid JSON")
)

// offset is the position in the answer of the next unconsumed byte.
func (f *frames) offset() int64 { return f.n - int64(len(f.buf)-f.pos) }

// parse parses one value cut by value. The parser's own error quotes the
// value, so it is replaced.
func (f *frames) parse(p *fastjson.Parser, v []byte) (*fastjson.Value, error) {
	pv, err := p.ParseBytes(v)
	if err != nil {
		return nil, fmt.Errorf("%w in the %d bytes before offset %d", errSyntax, len(v), f.offset())
	}
	return pv, nil
}

// fill reads more, keeping buf[pos:]. It fails past the answer's bound or
// when the unconsumed bytes already exceed one element's.
func (f *frames) fill() error {
	if f.err != nil {
		return f.err
	}
	if f.eof {
		return io.ErrUnexpectedEOF
	}
	if len(f.buf)-f.pos > MaxElement {
		return ErrElementTooBig
	}
	if f.n >= f.total {
		return ErrTooLarge
	}
	if f.pos > 0 {
		f.buf = f.buf[:copy(f.buf, f.buf[f.pos:])]
		f.pos = 0
	}
	if cap(f.buf)-len(f.buf) < 16<<10 {
		nb := make([]byte, len(f.buf), max(64<<10, 2*cap(f.buf)))
		copy(nb, f.buf)
		f.buf = nb
	}
	m, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+m]
	f.n += int64(m)
	switch {
	case err == io.EOF:
		f.eof = true
	case err != nil:
		f.err = err
		return err
	}
	return nil
}

// peek skips whitespace and returns the next byte, or io.EOF at the end.
func (f *frames) peek() (byte, error) {
	for {
		for f.pos < len(f.buf) {
			switch c := f.buf[f.pos]; c {
			case ' ', '\t', '\n', '\r':
				f.pos++
			default:
				return c, nil
			}
		}
		if f.eof {
			return 0, io.EOF
		}
		if err := f.fill(); err != nil {
			return 0, err
		}
	}
}

// expect consumes the byte c after whitespace.
func (f *frames) expect(c byte) error {
	got, err := f.peek()
	if err == io.EOF {
		return errTruncated
	}
	if err != nil {
		return err
	}
	if got != c {
		return fmt.Errorf("%w: %q expected at offset %d", errSyntax, c, f.offset())
	}
	f.pos++
	return nil
}

// value returns the bytes of the next JSON value, valid until the next
// call. The cut is structural only (strings, brackets, the delimiters
// after a scalar); the caller's parser checks the rest.
func (f *frames) value() ([]byte, error) {
	if _, err := f.peek(); err == io.EOF {
		return nil, errTruncated
	} else if err != nil {
		return nil, err
	}
	var s scanState
	i := f.pos
	for {
		end, done := s.scan(f.buf, i)
		if done {
			v := f.buf[f.pos:end]
			f.pos = end
			if len(v) > MaxElement {
				return nil, ErrElementTooBig
			}
			return v, nil
		}
		if f.eof {
			if s.depth == 0 && !s.inString && end > f.pos {
				// A scalar at the very end of the answer.
				v := f.buf[f.pos:end]
				f.pos = end
				return v, nil
			}
			return nil, errTruncated
		}
		// fill moves the unconsumed bytes to the front of the buffer.
		shift := f.pos
		if err := f.fill(); err != nil {
			return nil, err
		}
		i, s.strStart = end-shift, s.strStart-shift
	}
}

// scanState is where a value's scan stopped at the end of the buffer.
type scanState struct {
	depth    int
	inString bool
	strStart int // index of the open quote of the string being scanned
	started  bool
}

// scan goes on from b[i] over a value. It returns the index after the
// value and true, or where to resume and false when b ends first.
func (s *scanState) scan(b []byte, i int) (int, bool) {
	// The state lives in locals while scanning (the loop is the filter's
	// hottest), and is saved when b ends.
	depth, inString, strStart, started := s.depth, s.inString, s.strStart, s.started
	for i < len(b) {
		if inString {
			// Most strings of an answer are short (names, keys): a
			// plain loop finds their end before a call would have
			// started; long ones are left to IndexByte.
			q := -1
			for k := i; k < len(b) && k < i+24; k++ {
				if b[k] == '"' {
					q = k
					break
				}
			}
			if q < 0 && i+24 < len(b) {
				if j := bytes.IndexByte(b[i+24:], '"'); j >= 0 {
					q = i + 24 + j
				}
			}
			if q < 0 {
				*s = scanState{depth, true, strStart, started}
				return len(b), false
			}
			n := 0
			for k := q - 1; k > strStart && b[k] == '\\'; k-- {
				n++
			}
			i = q + 1
			if n%2 == 1 {
				continue // an escaped quote
			}
			inString = false
			if depth == 0 {
				return i, true
			}
			continue
		}
		switch b[i] {
		case '"':
			inString, strStart, started = true, i, true
		case '{', '[':
			depth++
			started = true
		case '}', ']':
			if depth == 0 {
				// The container around the value ends: a scalar ended
				// here (or the value is missing, which the parser finds).
				return i, true
			}
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 && started {
				return i, true
			}
		default:
			started = true
		}
		i++
	}
	*s = scanState{depth, inString, strStart, started}
	return i, false
}
