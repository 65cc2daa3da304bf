package policyfeed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// decoder walks the feed token by token instead of unmarshalling it into
// structs. encoding/json's struct decoding silently keeps the last of two
// equal keys and reports unknown fields without saying where they are; a
// token walk refuses the first and names the path of the second, which is
// what an operator needs to fix a hand-edited feed. It reads with jsontext
// (the JSON v2 tokenizer), several times faster than encoding/json's
// Decoder.Token on the million-record feeds large enterprises produce.
type decoder struct {
	dec *jsontext.Decoder
	// intern maps a login as written to its lowercase form, so that a
	// million records naming the same organizations and owners share their
	// strings instead of holding a copy each.
	intern map[string]string
}

func newDecoder(data []byte) *decoder {
	// Duplicate names are checked by object, with a message that names
	// the key; jsontext's own check would only cost time.
	return &decoder{
		dec:    jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true)),
		intern: make(map[string]string),
	}
}

// rawString reads a string (a value or an object name) and returns its
// unescaped bytes, valid until the next read.
func (d *decoder) rawString(want string) ([]byte, error) {
	if d.dec.PeekKind() != '"' {
		t, err := d.next()
		if err != nil {
			return nil, err
		}
		return nil, wrongType(want, t)
	}
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, d.malformed(err)
	}
	b := v[1 : len(v)-1]
	if bytes.IndexByte(b, '\\') >= 0 {
		if b, err = jsontext.AppendUnquote(nil, v); err != nil {
			return nil, d.malformed(err)
		}
	}
	return b, nil
}

// lowerLogin returns the lowercase login for b, shared with every other
// record that names it.
func (d *decoder) lowerLogin(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := strings.ToLower(string(b))
	d.intern[string(b)] = s
	return s
}

// next returns the next token, turning decoder errors into messages that
// say where the JSON broke.
func (d *decoder) next() (jsontext.Token, error) {
	t, err := d.dec.ReadToken()
	return t, d.malformed(err)
}

func (d *decoder) malformed(err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("malformed JSON: unexpected end of input")
	}
	return fmt.Errorf("malformed JSON near byte %d: %w", d.dec.InputOffset(), err)
}

// skip consumes one value of any kind.
func (d *decoder) skip() error {
	return d.malformed(d.dec.SkipValue())
}

// object reads one JSON object, calling field for each key with the decoder
// positioned on the key's value; field must consume that value. The key is
// valid only until field reads (switch on string(key) costs nothing). A key
// that appears twice is an error: which of the two a parser keeps is not
// something a security policy should depend on.
func (d *decoder) object(field func(key []byte) error) error {
	if err := d.open('{', "an object"); err != nil {
		return err
	}
	// Feed objects have a handful of keys: their copies, end to end, and a
	// linear scan stay on the stack.
	var buf [256]byte
	var ends [16]int
	seen, seenEnds := buf[:0], ends[:0]
	for d.dec.PeekKind() != '}' {
		if d.dec.PeekKind() == 0 {
			_, err := d.next()
			return err
		}
		key, err := d.rawString("an object key")
		if err != nil {
			return err
		}
		start := 0
		for _, end := range seenEnds {
			if bytes.Equal(seen[start:end], key) {
				return fmt.Errorf("duplicate key %q", key)
			}
			start = end
		}
		seen = append(seen, key...)
		seenEnds = append(seenEnds, len(seen))
		if err := field(key); err != nil {
			return err
		}
	}
	_, err := d.next() // the closing brace
	return err
}

// array reads one JSON array, calling elem for each element with the
// decoder positioned on it; elem must consume it.
func (d *decoder) array(elem func(i int) error) error {
	if err := d.open('[', "an array"); err != nil {
		return err
	}
	for i := 0; d.dec.PeekKind() != ']'; i++ {
		if d.dec.PeekKind() == 0 {
			_, err := d.next()
			return err
		}
		if err := elem(i); err != nil {
			return err
		}
	}
	_, err := d.next()
	return err
}

func (d *decoder) open(delim jsontext.Kind, want string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.Kind() != delim {
		return wrongType(want, t)
	}
	return nil
}

func (d *decoder) str(s *string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.Kind() != '"' {
		return wrongType("a string", t)
	}
	*s = t.String()
	return nil
}

func (d *decoder) boolean(b *bool) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	switch t.Kind() {
	case 't', 'f':
		*b = t.Bool()
		return nil
	}
	return wrongType("true or false", t)
}

// wrongType reports a value of the wrong JSON type. null gets a hint: it is
// refused rather than read as "default", so that a producer bug that blanks
// a restrictive setting cannot relax the policy.
func wrongType(want string, got jsontext.Token) error {
	if got.Kind() == 'n' {
		return fmt.Errorf("want %s, got null (omit the field to take its default)", want)
	}
	return fmt.Errorf("want %s, got %s", want, kind(got))
}

func kind(t jsontext.Token) string {
	switch t.Kind() {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "the number " + t.String()
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return strconv.Quote(t.Kind().String())
}

func unknownField(key []byte) error {
	return fmt.Errorf("unknown field %q", key)
}

// fieldError is an error at a path inside the feed, such as
// "organizations[3] "octo-org"" or "tokens[7].sha256".
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return e.path + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// at prefixes err's path with field. Paths are built on the way out of the
// walk, so a valid feed pays nothing for them.
func at(field string, err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := err.(*fieldError); ok {
		if len(fe.path) > 0 && fe.path[0] == '[' {
			fe.path = field + fe.path
		} else {
			fe.path = field + "." + fe.path
		}
		return fe
	}
	return &fieldError{path: field, err: err}
}

func index(i int) string { return "[" + strconv.Itoa(i) + "]" }
