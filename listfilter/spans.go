package listfilter

import (
	"bytes"
	"unsafe"

	"github.com/valyala/fastjson"
)

// spans finds where each element of a list parsed from a held answer lies
// in the answer, so that the elements that stay go out as the upstream's
// own bytes instead of being marshalled again (a fifth of a page's check).
//
// fastjson parses one contiguous copy of its input, and every key it hands
// out is a slice of that copy unless reading it undid an escape. In an
// answer without a single backslash nothing is escaped, so a key's
// distance from the answer's first key in the copy is its distance in the
// answer. The address is only compared, never turned back into a pointer.
// Every element's start is checked against the answer's bytes (its first
// key where the mapping puts it, then `{`, and `,` and `}` before that),
// and anything that does not fit makes spans report false: the caller
// marshals instead, as it does for answers with escapes.
//
// top is the answer's parsed value and items the list's elements; spans
// appends to dst and returns it.
func spans(held []byte, top *fastjson.Value, items []*fastjson.Value, dst [][2]int) ([][2]int, bool) {
	if len(items) == 0 || bytes.IndexByte(held, '\\') >= 0 {
		return dst, false
	}
	base, ok := anchor(held, top)
	if !ok {
		return dst, false
	}
	prevStart := -1
	for i, el := range items {
		k, ok := firstKey(el)
		if !ok {
			return dst, false
		}
		a := uintptr(unsafe.Pointer(unsafe.SliceData(k)))
		if a < base || a-base > uintptr(len(held)) {
			return dst, false
		}
		off := int(a - base)
		if off < 2 || off+len(k) >= len(held) || held[off-1] != '"' || held[off+len(k)] != '"' || !bytes.Equal(held[off:off+len(k)], k) {
			return dst, false
		}
		start := back(held, off-2)
		if start <= prevStart || held[start] != '{' {
			return dst, false
		}
		if i > 0 {
			// The previous element ends at the `}` before this one's `,`.
			c := back(held, start-1)
			if c <= prevStart || held[c] != ',' {
				return dst, false
			}
			end := back(held, c-1)
			if end <= prevStart || held[end] != '}' {
				return dst, false
			}
			dst[len(dst)-1][1] = end + 1
		}
		dst = append(dst, [2]int{start, -1})
		prevStart = start
	}
	// The last element ends where a scan of it from its start ends.
	var s scanState
	end, done := s.scan(held, prevStart)
	if !done || held[end-1] != '}' {
		return dst, false
	}
	dst[len(dst)-1][1] = end
	return dst, true
}

// anchor returns the address in the parser's copy that corresponds to the
// start of held: the address of the answer's first key (the top-level
// object's, or the first element's of a top-level array) less its offset.
func anchor(held []byte, top *fastjson.Value) (uintptr, bool) {
	i := skipSpace(held, 0)
	v := top
	if i < len(held) && held[i] == '[' {
		a, err := top.Array()
		if err != nil || len(a) == 0 {
			return 0, false
		}
		v, i = a[0], skipSpace(held, i+1)
	}
	if i >= len(held) || held[i] != '{' {
		return 0, false
	}
	if i = skipSpace(held, i+1); i >= len(held) || held[i] != '"' {
		return 0, false
	}
	k, ok := firstKey(v)
	// (k lies in the parser's memory: it is read, never appended to.)
	if !ok || i+1+len(k) >= len(held) || !bytes.Equal(held[i+1:i+1+len(k)], k) || held[i+1+len(k)] != '"' {
		return 0, false
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(k))) - uintptr(i+1), true
}

// firstKey returns the first key of an object that has one.
func firstKey(v *fastjson.Value) ([]byte, bool) {
	o, err := v.Object()
	if err != nil || o.Len() == 0 {
		return nil, false
	}
	var first []byte
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if first == nil {
			first = k
		}
	})
	return first, len(first) > 0
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// back returns the index of the last byte at or before i that is not JSON
// white space (-1 when there is none).
func back(b []byte, i int) int {
	for i >= 0 && isSpace(b[i]) {
		i--
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
