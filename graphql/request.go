package graphql

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ErrBadRequest marks a request that is not a GraphQL request the gateway
// can read: answered with 400.
var ErrBadRequest = errors.New("graphql request")

// Errors that say why a request could be read two ways. They carry no
// request data, so they are safe to log and to answer with.
var (
	errCaseVariant   = fmt.Errorf("%w: a key differs from query, variables or operationName only in case", ErrBadRequest)
	errRepeatedParam = fmt.Errorf("%w: a query, variables or operationName parameter is repeated", ErrBadRequest)
	errBothPlaces    = fmt.Errorf("%w: the document is given both in the URL and in the body", ErrBadRequest)
	errBodyOnGet     = fmt.Errorf("%w: a GET or HEAD request with a body", ErrBadRequest)
	errNotObject     = fmt.Errorf("%w: the body is not a JSON object or an array of them", ErrBadRequest)
	errEmptyBatch    = fmt.Errorf("%w: an empty batch", ErrBadRequest)
)

// MaxBatch bounds the operations one batched request may carry.
const MaxBatch = 32

// Request is one GraphQL operation request.
type Request struct {
	Query         string
	OperationName string
	Variables     map[string]any
}

// requestKeys are the names a GraphQL server reads from a request; any
// spelling of them in another case could be read by one side and not the
// other.
var requestKeys = [...]string{"query", "variables", "operationName"}

// ambiguousKey reports whether key is one a host might read as a request
// key although it is not exactly one: another case, or a Rack-style
// nested parameter (query[], query[x]) that Rails folds into "query".
func ambiguousKey(key string) bool {
	base, _, _ := strings.Cut(key, "[")
	for _, k := range requestKeys {
		if strings.EqualFold(base, k) && key != k {
			return true
		}
	}
	return false
}

// ParseRequests reads a GraphQL HTTP request: a GET with query, variables
// and operationName parameters, or a POST whose JSON body is one request or
// a batch (an array of them).
//
// The gateway must check exactly the document the host runs, and hosts
// differ in how they read ambiguous requests (Go's encoding/json matches
// keys in any case and keeps the last duplicate; Rails reads the exact key;
// Rack keeps the last repeated parameter). So every request that could be
// read two ways is refused rather than guessed at: keys that differ from
// the three request keys only in case, duplicate keys anywhere in the body
// (after unescaping), repeated parameters, a document both in the URL and in
// the body, a GET with a body, and a body that is not JSON.
func ParseRequests(method, rawQuery string, body []byte) ([]Request, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: the URL's query cannot be read", ErrBadRequest)
	}
	inURL := false
	for key, vals := range q {
		if ambiguousKey(key) {
			return nil, errCaseVariant
		}
		for _, k := range requestKeys {
			if key == k {
				inURL = true
				if len(vals) > 1 {
					return nil, errRepeatedParam
				}
			}
		}
	}
	if method == "GET" || method == "HEAD" {
		if len(body) > 0 {
			return nil, errBodyOnGet
		}
		r := Request{Query: q.Get("query"), OperationName: q.Get("operationName")}
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &r.Variables); err != nil {
				return nil, fmt.Errorf("%w: variables: %w", ErrBadRequest, err)
			}
		}
		return []Request{r}, nil
	}
	if inURL {
		return nil, errBothPlaces
	}
	return parseBody(body)
}

// parseBody reads a POST body strictly. jsontext refuses duplicate member
// names (compared after unescaping) and invalid UTF-8 by default, at every
// depth, so variables cannot be read two ways either.
func parseBody(body []byte) ([]Request, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	var reqs []Request
	switch dec.PeekKind() {
	case '{':
		r, err := readRequest(dec)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		for dec.PeekKind() != ']' {
			if dec.PeekKind() != '{' {
				return nil, errNotObject
			}
			if len(reqs) == MaxBatch {
				return nil, fmt.Errorf("%w: a batch of more than %d operations", ErrBadRequest, MaxBatch)
			}
			r, err := readRequest(dec)
			if err != nil {
				return nil, err
			}
			reqs = append(reqs, r)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if len(reqs) == 0 {
			return nil, errEmptyBatch
		}
	default:
		return nil, errNotObject
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrBadRequest)
	}
	return reqs, nil
}

// readRequest reads one request object.
func readRequest(dec *jsontext.Decoder) (Request, error) {
	var r Request
	if _, err := dec.ReadToken(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return r, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		switch name := tok.String(); name {
		case "query":
			err = readString(dec, &r.Query)
		case "operationName":
			err = readString(dec, &r.OperationName)
		case "variables":
			if dec.PeekKind() != '{' && dec.PeekKind() != 'n' {
				return r, fmt.Errorf("%w: variables is not an object", ErrBadRequest)
			}
			err = json.UnmarshalDecode(dec, &r.Variables)
		default:
			if ambiguousKey(name) {
				return r, errCaseVariant
			}
			err = dec.SkipValue()
		}
		if err != nil {
			return r, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return r, nil
}

// readString reads a string or null.
func readString(dec *jsontext.Decoder, s *string) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case '"':
		*s = tok.String()
	case 'n':
		*s = ""
	default:
		return errors.New("not a string")
	}
	return nil
}

// ReplaceQueries returns body, a POST body ParseRequests accepted, with
// the document of its i-th request replaced by queries[i]: everything
// else (variables, operationName, extensions) stays byte for byte, so that
// nothing the gateway did not mean to change is read differently.
func ReplaceQueries(body []byte, queries []string) ([]byte, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	out := make([]byte, 0, len(body)+len(body)/2)
	replace := func(i int) error {
		if i >= len(queries) {
			return fmt.Errorf("%w: more requests than documents", ErrBadRequest)
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		out = append(out, '{')
		for n := 0; dec.PeekKind() != '}'; n++ {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			if n > 0 {
				out = append(out, ',')
			}
			name := tok.String()
			out, _ = jsontext.AppendQuote(out, name)
			out = append(out, ':')
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if name == "query" {
				out, _ = jsontext.AppendQuote(out, queries[i])
			} else {
				out = append(out, v...)
			}
		}
		_, err := dec.ReadToken()
		out = append(out, '}')
		return err
	}
	var err error
	if dec.PeekKind() == '[' {
		if _, err = dec.ReadToken(); err != nil {
			return nil, err
		}
		out = append(out, '[')
		for i := 0; err == nil && dec.PeekKind() != ']'; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			err = replace(i)
		}
		if err == nil {
			_, err = dec.ReadToken()
			out = append(out, ']')
		}
	} else {
		err = replace(0)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return out, nil
}
