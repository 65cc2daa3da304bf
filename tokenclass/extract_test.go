package tokenclass

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

func newRequest(auth []string, rawQuery string) *http.Request {
	r := &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Path: "/user", RawQuery: rawQuery},
		Header: http.Header{},
	}
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func basicRaw(s string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s))
}

// describe prints a credential without its token.
func describe(c Credential) string {
	if c.Token == "" {
		return "{class=" + c.Class.String() + " source=" + c.Source.String() + " token=<empty>}"
	}
	return "{class=" + c.Class.String() + " source=" + c.Source.String() + " fp=" + c.Fingerprint().Prefix() + "}"
}

func TestFromRequest(t *testing.T) {
	tok := func(token string, class Class, src Source) Credential {
		return Credential{Token: token, Class: class, Source: src}
	}
	tests := []struct {
		name  string
		auth  []string
		query string
		want  Credential
	}{
		{"no credential", nil, "", Credential{}},
		{"unrelated query", nil, "page=2&per_page=100", Credential{}},
		{"similar query keys", nil, "access_tokens=x&xaccess_token=y&access_token_=z", Credential{}},

		// Schemes and their casing.
		{"token scheme", []string{"token " + fakeClassic}, "", tok(fakeClassic, Classic, SourceTokenHeader)},
		{"Token scheme", []string{"Token " + fakeClassic}, "", tok(fakeClassic, Classic, SourceTokenHeader)},
		{"TOKEN scheme", []string{"TOKEN " + fakeClassic}, "", tok(fakeClassic, Classic, SourceTokenHeader)},
		{"Bearer scheme", []string{"Bearer " + fakeFine}, "", tok(fakeFine, FineGrained, SourceBearer)},
		{"BEARER scheme", []string{"BEARER " + fakeFine}, "", tok(fakeFine, FineGrained, SourceBearer)},
		{"bearer scheme", []string{"bearer " + fakeFine}, "", tok(fakeFine, FineGrained, SourceBearer)},
		{"basic scheme lower", []string{"basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+fakeClassic))}, "", tok(fakeClassic, Classic, SourceBasic)},

		// Whitespace around scheme and token.
		{"spaces around", []string{"  token   " + fakeClassic + "  "}, "", tok(fakeClassic, Classic, SourceTokenHeader)},
		{"tabs around", []string{"\tBearer\t" + fakeClassic + "\t"}, "", tok(fakeClassic, Classic, SourceBearer)},
		{"mixed whitespace", []string{" \tBasic \t" + basic("x-access-token", fakeClassic)[len("Basic "):] + " "}, "", tok(fakeClassic, Classic, SourceBasic)},

		// Basic forms, as Git and its credential helpers send them.
		{"basic user:token", []string{basic("alice", fakeClassic)}, "", tok(fakeClassic, Classic, SourceBasic)},
		{"basic x-access-token:token", []string{basic("x-access-token", fakeS2S)}, "", tok(fakeS2S, ServerToServer, SourceBasic)},
		{"basic git:token", []string{basic("git", fakeFine)}, "", tok(fakeFine, FineGrained, SourceBasic)},
		{"basic token:", []string{basic(fakeClassic, "")}, "", tok(fakeClassic, Classic, SourceBasic)},
		{"basic token:x-oauth-basic", []string{basic(fakeClassic, "x-oauth-basic")}, "", tok(fakeClassic, Classic, SourceBasic)},
		{"basic token:X-OAUTH-BASIC", []string{basic(fakeClassic, "X-OAUTH-BASIC")}, "", tok(fakeClassic, Classic, SourceBasic)},
		{"basic empty user", []string{basic("", fakeOAuth)}, "", tok(fakeOAuth, OAuth, SourceBasic)},
		{"basic same token twice", []string{basic(fakeClassic, fakeClassic)}, "", tok(fakeClassic, Classic, SourceBasic)},
		{"basic password not a token", []string{basic("alice", "hunter2")}, "", tok("hunter2", Other, SourceBasic)},
		{"basic colon in password", []string{basic("alice", "a:b")}, "", tok("a:b", Other, SourceBasic)},
		{"basic unpadded", []string{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("x:"+fakeClassic+"1"))}, "", tok(fakeClassic+"1", Classic, SourceBasic)},
		{"basic beyond stack buffer", []string{basic("x-access-token", strings.Repeat("a", 1000))}, "", tok(strings.Repeat("a", 1000), Other, SourceBasic)},
		{"basic padded", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+fakeClassic+"1"))}, "", tok(fakeClassic+"1", Classic, SourceBasic)},

		// Query parameter.
		{"query", nil, "access_token=" + fakeClassic, tok(fakeClassic, Classic, SourceQuery)},
		{"query among others", nil, "page=2&access_token=" + fakeFine + "&per_page=1", tok(fakeFine, FineGrained, SourceQuery)},
		{"query percent-encoded value", nil, "access_token=" + url.QueryEscape(fakeFine), tok(fakeFine, FineGrained, SourceQuery)},
		{"query escaped value char", nil, "access_token=ghp%5F" + fakeBody, tok(fakeClassic, Classic, SourceQuery)},
		{"query escaped key", nil, "access%5Ftoken=" + fakeClassic, tok(fakeClassic, Classic, SourceQuery)},
		{"query semicolon separator", nil, "a=1;access_token=" + fakeClassic, tok(fakeClassic, Classic, SourceQuery)},
		{"header and same query", []string{"token " + fakeClassic}, "access_token=" + fakeClassic, tok(fakeClassic, Classic, SourceTokenHeader)},
		{"basic and same query", []string{basic("x-access-token", fakeClassic)}, "access_token=" + fakeClassic, tok(fakeClassic, Classic, SourceBasic)},

		// Schemes the gateway does not govern are forwarded untouched.
		{"digest scheme", []string{`Digest username="alice", realm="x", response="6629fae49393a05397450978507c4ef1"`}, "", Credential{Class: Other}},
		{"negotiate scheme", []string{"Negotiate YIIFyQYGKwYBBQUCoIIFvTCCBbmgMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg=="}, "", Credential{Class: Other}},
		{"unknown scheme with oauth token", []string{"Foo " + fakeOAuth}, "", Credential{Class: Other}},
		{"bare non-PAT", []string{fakeOther}, "", Credential{Class: Other}},

		// Every class through the token scheme.
		{"class classic", []string{"token " + fakeClassic}, "", tok(fakeClassic, Classic, SourceTokenHeader)},
		{"class GHP_ odd casing", []string{"token GhP_" + fakeBody}, "", tok("GhP_"+fakeBody, Classic, SourceTokenHeader)},
		{"class legacy hex lower", []string{"token " + fakeHex40}, "", tok(fakeHex40, Classic, SourceTokenHeader)},
		{"class legacy hex upper", []string{"token " + strings.ToUpper(fakeHex40)}, "", tok(strings.ToUpper(fakeHex40), Classic, SourceTokenHeader)},
		{"class hex 39", []string{"token " + fakeHex40[:39]}, "", tok(fakeHex40[:39], Other, SourceTokenHeader)},
		{"class hex 41", []string{"token " + fakeHex40 + "8"}, "", tok(fakeHex40+"8", Other, SourceTokenHeader)},
		{"class fine grained", []string{"token " + fakeFine}, "", tok(fakeFine, FineGrained, SourceTokenHeader)},
		{"class oauth", []string{"token " + fakeOAuth}, "", tok(fakeOAuth, OAuth, SourceTokenHeader)},
		{"class user to server", []string{"token " + fakeU2S}, "", tok(fakeU2S, UserToServer, SourceTokenHeader)},
		{"class server to server", []string{"token " + fakeS2S}, "", tok(fakeS2S, ServerToServer, SourceTokenHeader)},
		{"class refresh", []string{"token " + fakeRefresh}, "", tok(fakeRefresh, Refresh, SourceTokenHeader)},
		{"class app jwt", []string{"Bearer " + fakeJWT}, "", tok(fakeJWT, AppJWT, SourceBearer)},
		{"class random", []string{"token " + fakeOther}, "", tok(fakeOther, Other, SourceTokenHeader)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromRequest(newRequest(tt.auth, tt.query))
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", describe(got), describe(tt.want))
			}
		})
	}
}

func TestFromRequestErrors(t *testing.T) {
	tests := []struct {
		name    string
		auth    []string
		query   string
		wantErr error
		secrets []string // must not appear in the error text
	}{
		{"empty header", []string{""}, "", ErrMalformed, nil},
		{"blank header", []string{" \t "}, "", ErrMalformed, nil},
		{"token scheme alone", []string{"token"}, "", ErrMalformed, nil},
		{"token scheme empty token", []string{"token   "}, "", ErrMalformed, nil},
		{"bearer alone", []string{"Bearer "}, "", ErrMalformed, nil},
		{"basic alone", []string{"Basic"}, "", ErrMalformed, nil},
		{"inner space", []string{"token " + fakeClassic + " extra"}, "", ErrMalformed, []string{fakeClassic}},
		{"two tokens in header", []string{"Bearer " + fakeClassic + " " + fakeFine}, "", ErrMalformed, []string{fakeClassic, fakeFine}},
		{"control character", []string{"token " + fakeClassic + "\x01"}, "", ErrMalformed, []string{fakeClassic}},
		{"non-ASCII", []string{"token " + fakeClassic + "\u00a0"}, "", ErrMalformed, []string{fakeClassic}},
		{"bad base64", []string{"Basic !!" + fakeClassic}, "", ErrMalformed, []string{fakeClassic}},
		{"partial padding", []string{"Basic YQ="}, "", ErrMalformed, nil},
		{"newline inside base64", []string{"Basic eC1h\nY2Nlc3MtdG9rZW46eA=="}, "", ErrMalformed, nil},
		{"basic without colon", []string{basicRaw(fakeClassic)}, "", ErrMalformed, []string{fakeClassic}},
		{"basic colon alone", []string{basicRaw(":")}, "", ErrMalformed, nil},
		{"basic empty user x-oauth-basic", []string{basic("", "x-oauth-basic")}, "", ErrMalformed, nil},
		{"basic password with space", []string{basic("alice", fakeClassic+" x")}, "", ErrMalformed, []string{fakeClassic}},
		{"unknown scheme with classic", []string{"Digest " + fakeClassic}, "", ErrMalformed, []string{fakeClassic}},
		{"unknown scheme with fine grained", []string{"Foo " + fakeFine}, "", ErrMalformed, []string{fakeFine}},
		{"unknown scheme with odd-case PAT", []string{"Foo gHp_" + fakeBody}, "", ErrMalformed, []string{fakeBody}},
		{"unknown scheme PAT in auth-param", []string{`Digest username="alice", response="` + fakeClassic + `"`}, "", ErrMalformed, []string{fakeClassic}},
		{"bare classic", []string{fakeClassic}, "", ErrMalformed, []string{fakeClassic}},
		{"bare legacy hex", []string{fakeHex40}, "", ErrMalformed, []string{fakeHex40}},
		{"bare fine grained", []string{fakeFine}, "", ErrMalformed, []string{fakeFine}},
		{"PAT glued by unicode space", []string{"Foo\u2003" + fakeClassic}, "", ErrMalformed, []string{fakeClassic}},
		{"two headers identical", []string{"token " + fakeClassic, "token " + fakeClassic}, "", ErrConflict, []string{fakeClassic}},
		{"two headers different", []string{"token " + fakeClassic, "Bearer " + fakeFine}, "", ErrConflict, []string{fakeClassic, fakeFine}},
		{"two headers one empty", []string{"token " + fakeClassic, ""}, "", ErrConflict, []string{fakeClassic}},
		{"basic classic user fine password", []string{basic(fakeClassic, fakeFine)}, "", ErrConflict, []string{fakeClassic, fakeFine}},
		{"basic oauth user classic password", []string{basic(fakeOAuth, fakeClassic)}, "", ErrConflict, []string{fakeOAuth, fakeClassic}},
		{"basic hex user classic password", []string{basic(fakeHex40, fakeClassic)}, "", ErrConflict, []string{fakeHex40, fakeClassic}},
		{"basic classic user plain password", []string{basic(fakeClassic, "hunter2")}, "", ErrConflict, []string{fakeClassic, "hunter2"}},
		{"header and different query", []string{"token " + fakeClassic}, "access_token=" + fakeFine, ErrConflict, []string{fakeClassic, fakeFine}},
		{"unknown scheme and query", []string{"Negotiate abc"}, "access_token=" + fakeClassic, ErrConflict, []string{fakeClassic}},
		{"two query params identical", nil, "access_token=" + fakeClassic + "&access_token=" + fakeClassic, ErrConflict, []string{fakeClassic}},
		{"two query params different", nil, "access_token=" + fakeClassic + "&access_token=" + fakeFine, ErrConflict, []string{fakeClassic, fakeFine}},
		{"two query params one escaped key", nil, "access_token=" + fakeClassic + "&access%5ftoken=" + fakeFine, ErrConflict, []string{fakeClassic, fakeFine}},
		{"two query params semicolon", nil, "access_token=" + fakeClassic + ";access_token=" + fakeFine, ErrConflict, []string{fakeClassic, fakeFine}},
		{"query bad percent-encoding", nil, "access_token=" + fakeClassic + "%zz", ErrMalformed, []string{fakeClassic}},
		{"query trailing percent", nil, "access_token=" + fakeClassic + "%", ErrMalformed, []string{fakeClassic}},
		{"query empty value", nil, "access_token=", ErrMalformed, nil},
		{"query no value", nil, "access_token", ErrMalformed, nil},
		{"query plus is space", nil, "access_token=" + fakeClassic + "+x", ErrMalformed, []string{fakeClassic}},
		{"query escaped newline", nil, "access_token=" + fakeClassic + "%0A", ErrMalformed, []string{fakeClassic}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromRequest(newRequest(tt.auth, tt.query))
			if err == nil {
				t.Fatalf("err = nil with %s, want %v", describe(got), tt.wantErr)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					// The text is not printed: it holds the token.
					t.Fatalf("error text contains the token (fingerprint %s)", FingerprintOf(s).Prefix())
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %q, want it to wrap %v", err, tt.wantErr)
			}
			if got != (Credential{}) {
				t.Errorf("credential = %s on error, want zero", describe(got))
			}
		})
	}
}

// TestFromRequestWire reads requests as net/http parses them off the wire,
// where header-name casing varies and Header holds canonical keys.
func TestFromRequestWire(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantClass Class
		wantErr   error
	}{
		{"lowercase header name", "GET /user HTTP/1.1\r\nHost: x\r\nauthorization: token " + fakeClassic + "\r\n\r\n", Classic, nil},
		{"two lines differently cased", "GET /user HTTP/1.1\r\nHost: x\r\nAuthorization: token " + fakeClassic + "\r\nAUTHORIZATION: token " + fakeClassic + "\r\n\r\n", None, ErrConflict},
		{"query on request line", "GET /user?access_token=" + fakeFine + " HTTP/1.1\r\nHost: x\r\n\r\n", FineGrained, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
			if err != nil {
				t.Fatalf("ReadRequest: %v", err)
			}
			got, err := FromRequest(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got.Class != tt.wantClass {
				t.Errorf("class = %v, want %v", got.Class, tt.wantClass)
			}
		})
	}
}

// knownErrs is every error FromRequest may return. Keeping them constant is
// what guarantees an error text cannot carry a token.
var knownErrs = []error{
	errTwoAuthorization, errBasicTwoTokens, errHeaderAndQuery, errTwoQueryTokens,
	errEmptyAuthorization, errEmptyToken, errTokenChars, errUnsupportedScheme,
	errBasicBase64, errBasicNoColon, errBasicEmpty, errQueryEscape, errQueryEmpty,
}

// fedTokens returns every string of the input that could be a token: the
// header, its parts, the halves of anything that decodes as Basic, and the
// query values raw and unescaped.
func fedTokens(auth, query string) []string {
	out := []string{auth}
	for _, f := range strings.FieldsFunc(auth, func(r rune) bool { return r <= ' ' || unicode.IsSpace(r) || strings.ContainsRune(`,;="`, r) }) {
		out = append(out, f)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(f); err == nil {
				user, pass, _ := strings.Cut(string(b), ":")
				out = append(out, string(b), user, pass)
			}
		}
	}
	for _, part := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		_, v, _ := strings.Cut(part, "=")
		out = append(out, v)
		if u, err := url.QueryUnescape(v); err == nil {
			out = append(out, u)
		}
	}
	return out
}

func FuzzFromRequest(f *testing.F) {
	seeds := []struct {
		auth  string
		query string
		dup   bool
	}{
		{"", "", false},
		{"token " + fakeClassic, "", false},
		{"Bearer " + fakeFine, "", false},
		{"bearer " + fakeJWT, "", false},
		{basic("x-access-token", fakeS2S), "", false},
		{basic(fakeClassic, "x-oauth-basic"), "", false},
		{basic(fakeClassic, fakeFine), "", false},
		{basic("", ""), "", false},
		{"Basic YQ=", "", false},
		{"Digest " + fakeClassic, "", false},
		{fakeHex40, "", false},
		{"token " + fakeClassic, "", true},
		{"", "access_token=" + fakeClassic, false},
		{"", "access%5Ftoken=" + fakeClassic + "&access_token=x", false},
		{"", "access_token=%zz", false},
		{"token " + fakeClassic, "access_token=" + fakeClassic, false},
		{"token " + fakeClassic, "access_token=" + fakeFine, false},
		{"  TOKEN\t" + fakeOAuth + " ", "a=1;b=2", false},
	}
	for _, s := range seeds {
		f.Add(s.auth, s.query, s.dup)
	}
	f.Fuzz(func(t *testing.T, auth, query string, dup bool) {
		var lines []string
		if auth != "" {
			lines = append(lines, auth)
			if dup {
				lines = append(lines, auth)
			}
		}
		got, err := FromRequest(newRequest(lines, query))

		if err != nil {
			// Token-shaped inputs are checked literally; the known-error
			// check below covers every other input.
			for _, s := range fedTokens(auth, query) {
				if c := Classify(s); c != None && c != Other && strings.Contains(err.Error(), s) {
					t.Fatalf("error text contains a fed %v token (fingerprint %s)", c, FingerprintOf(s).Prefix())
				}
			}
			known := false
			for _, k := range knownErrs {
				known = known || err == k
			}
			if !known {
				t.Fatal("FromRequest returned an error that is not one of the constant errors")
			}
			if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %q wraps neither ErrConflict nor ErrMalformed", err)
			}
			if got != (Credential{}) {
				t.Fatalf("credential = %s on error, want zero", describe(got))
			}
			return
		}

		if len(lines) > 1 {
			t.Fatal("two Authorization headers did not conflict")
		}
		if got.Class != None && got.Class != Other {
			if got.Token == "" {
				t.Fatalf("%v credential has an empty token", got.Class)
			}
			if strings.ContainsFunc(got.Token, unicode.IsSpace) || !isTokenText(got.Token) {
				t.Fatalf("%v token (fingerprint %s) contains whitespace or controls", got.Class, got.Fingerprint().Prefix())
			}
		}
		if (got.Token == "") != (got.Source == SourceNone) {
			t.Fatalf("credential %s: token presence disagrees with source", describe(got))
		}
		if got.Token != "" && got.Class != Classify(got.Token) {
			t.Fatalf("credential %s: class disagrees with Classify", describe(got))
		}
		// Fail safe: a PAT visible in a header the gateway reads as plain
		// text must be governed (Basic is exempt: its parts are base64).
		if got.Source != SourceBasic {
			for _, s := range strings.FieldsFunc(auth, unicode.IsSpace) {
				if Classify(s).IsPAT() && !got.Class.IsPAT() {
					t.Fatalf("a PAT in the header (fingerprint %s) came back as %s", FingerprintOf(s).Prefix(), describe(got))
				}
			}
		}
	})
}

var sinkCredential Credential

func BenchmarkFromRequest(b *testing.B) {
	benches := []struct {
		name  string
		auth  []string
		query string
	}{
		{"token_header", []string{"token " + fakeClassic}, ""},
		{"basic", []string{basic("x-access-token", fakeFine)}, ""},
		{"query", nil, "page=2&access_token=" + fakeClassic},
		{"anonymous", nil, "page=2&per_page=100"},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			r := newRequest(bb.auth, bb.query)
			b.ReportAllocs()
			for b.Loop() {
				c, err := FromRequest(r)
				if err != nil {
					b.Fatal(err)
				}
				sinkCredential = c
			}
		})
	}
}

func TestCredentialStringHidesToken(t *testing.T) {
	c := Credential{Token: "ghp_secretsecretsecretsecretsecretsecret", Class: Classic, Source: SourceTokenHeader}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, c.Token) {
			t.Errorf("formatted credential shows the token")
		}
		if !strings.Contains(s, c.Fingerprint().Prefix()) {
			t.Errorf("formatted credential %q lacks the fingerprint prefix", s)
		}
	}
}
