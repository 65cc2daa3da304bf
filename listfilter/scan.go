package listfilter

import (
	"bytes"

	"github.com/go-json-experiment/json"
)

// A minimal reader of JSON the stream decoder has already validated: it
// finds an object's top-level members without decoding the rest. An
// element of GitHub's is a few kilobytes of which the check needs a few
// names; decoding it whole took as long as reading the answer.

// members calls f with each top-level member of the object v (the key
// without its quotes, the value's raw bytes). It reports false when v is
// not an object.
func members(v []byte, f func(key, val []byte)) bool {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return false
	}
	i = skipSpace(v, i+1)
	for i < len(v) && v[i] == '"' {
		end := skipString(v, i)
		key := v[i+1 : end-1]
		i = skipSpace(v, end)
		if i >= len(v) || v[i] != ':' {
			return false
		}
		i = skipSpace(v, i+1)
		vend := skipValue(v, i)
		f(key, v[i:vend])
		i = skipSpace(v, vend)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i]. It
// jumps from quote to quote (IndexByte is vectorised): a quote ends the
// string unless an odd number of backslashes escapes it.
func skipString(b []byte, i int) int {
	for i++; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q := i + j
		n := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
		i++
	}
	return i
}

// str returns a JSON string value's text ("" for anything else).
func str(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	if json.Unmarshal(v, &s, elementOptions) != nil {
		return ""
	}
	return s
}

// field returns the top-level member key of the object v.
func field(v []byte, key string) []byte {
	var out []byte
	members(v, func(k, val []byte) {
		if out == nil && string(k) == key {
			out = val
		}
	})
	return out
}
