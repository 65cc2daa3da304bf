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
// answer without a single backslash, which is the only kind the caller
// asks about, nothing is escaped, so a key's distance from the answer's
// first key in the copy is its distance in the answer. The address is only
// compared, never turned back into a pointer. Each element's start is
// checked against the answer's bytes (its first key where the mapping puts
// it, then `{` before it); its end is the `}` before the `,` before the
// next element's start, or where a scan of it ends.
//
// firsts are the elements' first keys (nil: none). spans appends one span
// per element to dst, {0, 0} for an element it could not place (an empty
// object, anything not an object), and returns dst.
func spans(held []byte, top *fastjson.Value, firsts [][]byte, dst [][2]int) [][2]int {
	if len(firsts) == 0 {
		return dst
	}
	base, ok := anchor(held, top, firsts[0])
	n := len(dst)
	for _, k := range firsts {
		start := -1
		if ok && k != nil {
			start = startOf(held, base, k)
		}
		dst = append(dst, [2]int{start, 0})
	}
	starts := dst[n:]
	prev := -1
	for i := range starts {
		start := starts[i][0]
		if start <= prev {
			// Not placed, or not after the element before it: whatever
			// went wrong, this element is marshalled.
			starts[i] = [2]int{}
			continue
		}
		prev = start
		end := -1
		if i+1 < len(starts) && starts[i+1][0] > start {
			// The `}` before the `,` before the next element.
			if c := back(held, starts[i+1][0]-1); c > start && held[c] == ',' {
				if e := back(held, c-1); e > start && held[e] == '}' {
					end = e + 1
				}
			}
		} else {
			var s scanState
			if e, done := s.scan(held, start); done && held[e-1] == '}' {
				end = e
			}
		}
		if end < 0 {
			starts[i] = [2]int{}
			continue
		}
		starts[i][1] = end
	}
	return dst
}

// startOf returns where the object whose first key is k starts in held,
// or -1 when k does not lie where base says it does.
func startOf(held []byte, base uintptr, k []byte) int {
	a := uintptr(unsafe.Pointer(unsafe.SliceData(k)))
	if a < base || a-base > uintptr(len(held)) {
		return -1
	}
	off := int(a - base)
	if off < 2 || off+len(k) >= len(held) || held[off-1] != '"' || held[off+len(k)] != '"' || !bytes.Equal(held[off:off+len(k)], k) {
		return -1
	}
	start := back(held, off-2)
	if start < 0 || held[start] != '{' {
		return -1
	}
	return start
}

// anchor returns the address in the parser's copy that corresponds to the
// start of held: the address of the answer's first key less its offset.
// That key is the top-level object's, or first, the first key of a
// top-level array's first element.
func anchor(held []byte, top *fastjson.Value, first []byte) (uintptr, bool) {
	i := skipSpace(held, 0)
	k, ok := first, first != nil
	if i < len(held) && held[i] == '[' {
		i = skipSpace(held, i+1)
	} else {
		k, ok = firstKey(top)
	}
	if !ok || i >= len(held) || held[i] != '{' {
		return 0, false
	}
	if i = skipSpace(held, i+1); i >= len(held) || held[i] != '"' {
		return 0, false
	}
	// (k lies in the parser's memory: it is read, never appended to.)
	if i+1+len(k) >= len(held) || !bytes.Equal(held[i+1:i+1+len(k)], k) || held[i+1+len(k)] != '"' {
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
