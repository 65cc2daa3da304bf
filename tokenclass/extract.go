package tokenclass

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Source says where in the request the credential was found.
type Source uint8

// The places a credential is read from.
const (
	SourceNone        Source = iota // no credential
	SourceTokenHeader               // Authorization: token X
	SourceBearer                    // Authorization: Bearer X
	SourceBasic                     // Authorization: Basic base64(user:pass), as Git over HTTPS sends
	SourceQuery                     // the access_token query parameter
)

var sourceNames = [...]string{
	SourceNone:        "none",
	SourceTokenHeader: "token",
	SourceBearer:      "bearer",
	SourceBasic:       "basic",
	SourceQuery:       "query",
}

// String returns the source's stable name, as used in logs.
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "source(" + strconv.Itoa(int(s)) + ")"
}

// Credential is the one credential a request carries.
type Credential struct {
	Token  string // the raw token; callers must never log it
	Class  Class
	Source Source
}

// String describes the credential without the token, so that %v or a
// structured logger handed a Credential by mistake cannot print it.
func (c Credential) String() string {
	if c.Token == "" {
		return c.Class.String() + "/" + c.Source.String()
	}
	return c.Class.String() + "/" + c.Source.String() + "/" + c.Fingerprint().Prefix()
}

// GoString is String, for %#v.
func (c Credential) GoString() string { return c.String() }

// Fingerprint returns the fingerprint of c.Token, the only form of the token
// that may leave the request.
func (c Credential) Fingerprint() Fingerprint {
	return FingerprintOf(c.Token)
}

// Sentinel errors of FromRequest; every error it returns wraps one of them.
var (
	// ErrConflict means the request carries two credentials, so the upstream
	// might authenticate with one the gateway did not check.
	ErrConflict = errors.New("conflicting credentials")
	// ErrMalformed means the request carries a credential the gateway cannot
	// read, so it cannot tell whether a policy applies.
	ErrMalformed = errors.New("malformed credential")
)

// The texts of FromRequest's errors are constants: the handler sends them to
// the client and logs them, and a text built from request data could carry the
// token. Being values, they also cost nothing when a client floods bad
// requests.
var (
	errTwoAuthorization = fmt.Errorf("%w: the request has more than one Authorization header; send exactly one", ErrConflict)
	errBasicTwoTokens   = fmt.Errorf("%w: the Basic username and password are two different tokens; put the token in the password and a plain username such as x-access-token", ErrConflict)
	errHeaderAndQuery   = fmt.Errorf("%w: the Authorization header and the access_token query parameter carry different credentials; send only one", ErrConflict)
	errTwoQueryTokens   = fmt.Errorf("%w: the request has more than one access_token query parameter; send exactly one", ErrConflict)

	errEmptyAuthorization = fmt.Errorf("%w: the Authorization header is empty", ErrMalformed)
	errEmptyToken         = fmt.Errorf("%w: the Authorization header has a scheme but no token", ErrMalformed)
	errTokenChars         = fmt.Errorf("%w: the token contains whitespace, control or non-ASCII characters", ErrMalformed)
	errUnsupportedScheme  = fmt.Errorf("%w: unsupported authorization scheme for a personal access token; use \"token\", \"Bearer\" or \"Basic\"", ErrMalformed)
	errBasicBase64        = fmt.Errorf("%w: the Basic credentials are not valid base64", ErrMalformed)
	errBasicNoColon       = fmt.Errorf("%w: the Basic credentials have no ':' between username and password", ErrMalformed)
	errBasicEmpty         = fmt.Errorf("%w: the Basic credentials have no token in the username or the password", ErrMalformed)
	errQueryEscape        = fmt.Errorf("%w: the access_token query parameter has invalid percent-encoding", ErrMalformed)
	errQueryEmpty         = fmt.Errorf("%w: the access_token query parameter is empty", ErrMalformed)
)

// FromRequest returns the request's credential; Credential{} (Class None)
// when there is none.
//
// The credential is read from "Authorization: token X", "Authorization:
// Bearer X", "Authorization: Basic base64(user:pass)" and the access_token
// query parameter. Scheme names are case-insensitive. For Basic the password
// is the token, unless it is empty or "x-oauth-basic", in which case the
// username is.
//
// An Authorization header with any other scheme is not governed and is
// reported as Credential{Class: Other} with an empty Token, so the gateway
// forwards it untouched; but if any part of it looks like a PAT, FromRequest
// returns ErrMalformed, so a client that forgot the scheme cannot slip a PAT
// past the policy.
//
// Errors wrap ErrConflict or ErrMalformed. Their texts are meant for the
// client (the handler answers 400 with them) and never contain the token.
func FromRequest(r *http.Request) (Credential, error) {
	hdr, hasHdr, err := fromHeader(r.Header)
	if err != nil {
		return Credential{}, err
	}
	var qry Credential
	hasQry := false
	if r.URL != nil {
		qry, hasQry, err = fromQuery(r.URL.RawQuery)
		if err != nil {
			return Credential{}, err
		}
	}
	switch {
	case hasHdr && hasQry:
		// An ungoverned header (empty Token) beside a query token is a
		// conflict too: the gateway cannot know which one the upstream uses.
		if hdr.Token != qry.Token {
			return Credential{}, errHeaderAndQuery
		}
		return hdr, nil
	case hasHdr:
		return hdr, nil
	case hasQry:
		return qry, nil
	}
	return Credential{}, nil
}

// fromHeader reads the Authorization header. ok is true when the header is
// present, including when its scheme is one the gateway does not govern.
func fromHeader(h http.Header) (c Credential, ok bool, err error) {
	vals := h.Values("Authorization")
	switch len(vals) {
	case 0:
		return Credential{}, false, nil
	case 1:
	default:
		// Even identical lines conflict: proxies and servers disagree on
		// whether they take the first, the last or a joined value.
		return Credential{}, false, errTwoAuthorization
	}
	v := trimSpaceTab(vals[0])
	if v == "" {
		return Credential{}, false, errEmptyAuthorization
	}
	scheme, rest := v, ""
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		scheme, rest = v[:i], trimSpaceTab(v[i+1:])
	}
	switch {
	case equalFoldASCII(scheme, "token"):
		return tokenCredential(rest, SourceTokenHeader)
	case equalFoldASCII(scheme, "bearer"):
		return tokenCredential(rest, SourceBearer)
	case equalFoldASCII(scheme, "basic"):
		return fromBasic(rest)
	}
	if containsPAT(v) {
		return Credential{}, false, errUnsupportedScheme
	}
	return Credential{Class: Other}, true, nil
}

func tokenCredential(tok string, src Source) (Credential, bool, error) {
	if tok == "" {
		return Credential{}, false, errEmptyToken
	}
	if !isTokenText(tok) {
		return Credential{}, false, errTokenChars
	}
	return Credential{Token: tok, Class: Classify(tok), Source: src}, true, nil
}

func fromBasic(enc string) (Credential, bool, error) {
	if enc == "" {
		return Credential{}, false, errEmptyToken
	}
	// Checked before decoding because the base64 decoder skips '\r' and
	// '\n', which would otherwise let a line break through.
	if !isTokenText(enc) {
		return Credential{}, false, errTokenChars
	}
	// Clients differ on padding; a length that is a multiple of four is
	// either padded or needs none, anything else must be unpadded.
	b64 := base64.StdEncoding
	if len(enc)%4 != 0 {
		b64 = base64.RawStdEncoding
	}
	// Decoding into a stack buffer leaves one allocation, the string the
	// Credential keeps, for any Basic pair a Git client sends.
	var buf [512]byte
	var dst []byte
	if n := b64.DecodedLen(len(enc)); n <= len(buf) {
		dst = buf[:n]
	} else {
		dst = make([]byte, n)
	}
	n, err := b64.Decode(dst, []byte(enc))
	if err != nil {
		return Credential{}, false, errBasicBase64
	}
	user, pass, found := strings.Cut(string(dst[:n]), ":")
	if !found {
		return Credential{}, false, errBasicNoColon
	}
	var tok string
	if pass == "" || equalFoldASCII(pass, "x-oauth-basic") {
		tok = user
	} else {
		tok = pass
		// Usernames such as "x-access-token" or "git" are ignored, but a
		// token-shaped one may be what the upstream authenticates with.
		if c := Classify(user); c != None && c != Other && user != pass {
			return Credential{}, false, errBasicTwoTokens
		}
	}
	if tok == "" {
		return Credential{}, false, errBasicEmpty
	}
	if !isTokenText(tok) {
		return Credential{}, false, errTokenChars
	}
	return Credential{Token: tok, Class: Classify(tok), Source: SourceBasic}, true, nil
}

// fromQuery finds the access_token parameter in a raw query without building
// url.Values, which would allocate on every request.
//
// Both '&' and ';' separate parameters: Go's url.ParseQuery rejects ';', but
// other servers split on it, and splitting on more than the upstream does can
// only make the gateway see a token the upstream ignores, never the reverse.
func fromQuery(rawQuery string) (c Credential, ok bool, err error) {
	var val string
	found := false
	for rest := rawQuery; rest != ""; {
		var part string
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			part, rest = rest, ""
		}
		key, v, _ := strings.Cut(part, "=")
		if !isAccessTokenKey(key) {
			continue
		}
		if found {
			// Even identical values conflict, for the same reason as two
			// Authorization headers.
			return Credential{}, false, errTwoQueryTokens
		}
		found, val = true, v
	}
	if !found {
		return Credential{}, false, nil
	}
	tok, err := url.QueryUnescape(val)
	if err != nil {
		return Credential{}, false, errQueryEscape
	}
	if tok == "" {
		return Credential{}, false, errQueryEmpty
	}
	if !isTokenText(tok) {
		return Credential{}, false, errTokenChars
	}
	return Credential{Token: tok, Class: Classify(tok), Source: SourceQuery}, true, nil
}

// isAccessTokenKey reports whether a raw query key unescapes to exactly
// "access_token", so "access%5Ftoken" cannot hide a token from the gateway.
func isAccessTokenKey(key string) bool {
	if key == "access_token" {
		return true
	}
	if !strings.Contains(key, "%") {
		return false
	}
	k, err := url.QueryUnescape(key)
	return err == nil && k == "access_token"
}

// containsPAT reports whether any part of an Authorization value with an
// unknown scheme classifies as a PAT. Besides whitespace it splits on the
// auth-param delimiters, so `Digest response="ghp_…"` is caught as well, and
// on every control and non-ASCII byte, so no exotic (Unicode) space can glue
// a PAT to its neighbour.
func containsPAT(v string) bool {
	start := -1
	for i := 0; i <= len(v); i++ {
		if i < len(v) && !isPartDelimiter(v[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if Classify(v[start:i]).IsPAT() {
				return true
			}
			start = -1
		}
	}
	return false
}

func isPartDelimiter(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '=' || c == '"'
}

// isTokenText reports whether s is only printable ASCII. GitHub tokens and
// JWTs are ASCII; rejecting whitespace, controls and non-ASCII bytes means no
// Unicode space or encoding trick can make the gateway and the upstream read
// different tokens.
func isTokenText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func trimSpaceTab(s string) string {
	return strings.Trim(s, " \t")
}
