package policyfeed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// decoder walks the feed token by token instead of unmarshalling it into
// structs. encoding/json's struct decoding silently keeps the last of two
// equal keys and reports unknown fields without saying where they are; a
// token walk refuses the first and names the path of the second, which is
// what an operator needs to fix a hand-edited feed.
type decoder struct {
	dec *json.Decoder
}

// next returns the next token, turning decoder errors into messages that
// say where the JSON broke.
func (d *decoder) next() (json.Token, error) {
	t, err := d.dec.Token()
	return t, d.malformed(err)
}

func (d *decoder) malformed(err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("malformed JSON: unexpected end of input")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d: %w", se.Offset, err)
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// object reads one JSON object, calling field for each key with the decoder
// positioned on the key's value; field must consume that value. A key that
// appears twice is an error: which of the two a parser keeps is not
// something a security policy should depend on.
func (d *decoder) object(field func(key string) error) error {
	if err := d.open('{', "an object"); err != nil {
		return err
	}
	// Feed objects have a handful of keys, so a linear scan beats a map and
	// stays on the stack.
	var buf [8]string
	seen := buf[:0]
	for d.dec.More() {
		t, err := d.next()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok { // the decoder only yields strings here; be safe anyway
			return fmt.Errorf("want an object key, got %s", kind(t))
		}
		for _, k := range seen {
			if k == key {
				return fmt.Errorf("duplicate key %q", key)
			}
		}
		seen = append(seen, key)
		if err := field(key); err != nil {
			return err
		}
	}
	_, err := d.next() // the closing brace; More has seen it
	return err
}

// array reads one JSON array, calling elem for each element with the
// decoder positioned on it; elem must consume it.
func (d *decoder) array(elem func(i int) error) error {
	if err := d.open('[', "an array"); err != nil {
		return err
	}
	for i := 0; d.dec.More(); i++ {
		if err := elem(i); err != nil {
			return err
		}
	}
	_, err := d.next()
	return err
}

func (d *decoder) open(delim json.Delim, want string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t != delim {
		return wrongType(want, t)
	}
	return nil
}

func (d *decoder) str(s *string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	v, ok := t.(string)
	if !ok {
		return wrongType("a string", t)
	}
	*s = v
	return nil
}

func (d *decoder) boolean(b *bool) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	v, ok := t.(bool)
	if !ok {
		return wrongType("true or false", t)
	}
	*b = v
	return nil
}

// wrongType reports a value of the wrong JSON type. null gets a hint: it is
// refused rather than read as "default", so that a producer bug that blanks
// a restrictive setting cannot relax the policy.
func wrongType(want string, got json.Token) error {
	if got == nil {
		return fmt.Errorf("want %s, got null (omit the field to take its default)", want)
	}
	return fmt.Errorf("want %s, got %s", want, kind(got))
}

func kind(t json.Token) string {
	switch v := t.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + v.String()
	case string:
		return "a string"
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return strconv.Quote(v.String())
	}
	return fmt.Sprintf("%T", t)
}

func unknownField(key string) error {
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
