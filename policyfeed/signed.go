package policyfeed

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/golang-jwt/jwt/v5"
)

// Signature errors. Every one rejects the feed; the last good one stays.
var (
	// ErrUnsigned: a feed_key is configured and the feed is plain JSON.
	ErrUnsigned = errors.New("feed is not signed")
	// ErrUnexpectedSignature: the feed is a JWS but no feed_key is
	// configured to verify it.
	ErrUnexpectedSignature = errors.New("feed is signed but no feed_key is configured")
	// ErrBadSignature: malformed JWS, wrong algorithm, or a signature that
	// does not verify.
	ErrBadSignature = errors.New("feed signature")
	// ErrExpired: the feed's exp has passed, or its nbf has not come.
	ErrExpired = errors.New("feed is not valid now")
)

// clockSkew is how far exp and nbf may be off, for clocks that drift.
const clockSkew = 30 * time.Second

// now is the clock, replaceable in tests.
var now = time.Now

// Verifier checks signed feeds against one public key. The algorithms are
// pinned to the key's type, so that a feed cannot choose how it is
// verified: ES256 for a P-256 key, EdDSA for Ed25519, RS256 or PS256 for
// RSA. "none", HMAC (whose "secret" would be the public key everyone has)
// and any other algorithm are refused.
//
// The cryptography is golang-jwt's: each allowed algorithm is one of its
// SigningMethod values, held here rather than looked up by name in jwt's
// registry, which any package linked into the binary can add to. Its token
// parser is not used: it would decode the payload, a feed of up to
// hundreds of megabytes, into a claims map that nothing reads, when the
// feed parser reads exp and nbf itself (see Parse).
type Verifier struct {
	key     crypto.PublicKey
	methods []jwt.SigningMethod
}

// NewVerifier reads a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
// PUBLIC KEY", or a certificate).
func NewVerifier(pemData []byte) (*Verifier, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("feed key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("feed key: PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("feed key: %w", err)
	}
	methods, err := methodsFor(key)
	if err != nil {
		return nil, err
	}
	return &Verifier{key: key, methods: methods}, nil
}

// methodsFor pins the JWS algorithms a key may verify: the explicit list
// that a feed's "alg" must be found in.
func methodsFor(key any) ([]jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("feed key: ECDSA curve %s is not supported (use P-256, ES256)", k.Curve.Params().Name)
		}
		return []jwt.SigningMethod{jwt.SigningMethodES256}, nil
	case ed25519.PublicKey:
		return []jwt.SigningMethod{jwt.SigningMethodEdDSA}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("feed key: RSA key of %d bits is too short (want at least 2048)", k.N.BitLen())
		}
		return []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodPS256}, nil
	}
	return nil, fmt.Errorf("feed key: unsupported key type %T", key)
}

// Algorithms returns the algorithms the key accepts.
func (v *Verifier) Algorithms() []string {
	algs := make([]string, len(v.methods))
	for i, m := range v.methods {
		algs[i] = m.Alg()
	}
	return algs
}

// Open verifies a compact JWS and returns its payload, the feed JSON. The
// payload's exp and nbf are checked by Parse's caller, which reads them
// while parsing, so a 200 MB feed is not decoded twice.
func (v *Verifier) Open(data []byte) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		return nil, ErrUnsigned
	}
	// The signature is found from the end, so that finding it does not
	// scan the payload. A payload with a "." in it (more than three
	// parts) is not base64url and is refused when it is decoded, after
	// the signature: only the key's holder can have signed it.
	first := bytes.IndexByte(data, '.')
	last := bytes.LastIndexByte(data, '.')
	if first <= 0 || last == first {
		return nil, fmt.Errorf("%w: not a compact JWS (header.payload.signature)", ErrBadSignature)
	}
	headerB64, payloadB64, sigB64 := data[:first], data[first+1:last], data[last+1:]
	method, err := v.checkHeader(headerB64)
	if err != nil {
		return nil, err
	}
	if len(sigB64) == 0 {
		return nil, fmt.Errorf("%w: the signature is empty (stripped?)", ErrBadSignature)
	}
	sig, err := base64.RawURLEncoding.DecodeString(string(sigB64))
	if err != nil {
		return nil, fmt.Errorf("%w: undecodable signature", ErrBadSignature)
	}
	if err := verify(method, data[:last], sig, v.key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	payload := make([]byte, base64.RawURLEncoding.DecodedLen(len(payloadB64)))
	n, err := base64.RawURLEncoding.Decode(payload, payloadB64)
	if err != nil {
		return nil, fmt.Errorf("%w: undecodable payload", ErrBadSignature)
	}
	return payload[:n], nil
}

// verify checks sig over the signing input, header.payload as it was sent.
// jwt's SigningMethod takes that input as a string, so it is copied into
// one: for a 243 MB feed, 243 MB more for as long as the verification
// takes (jwt copies it once more to hash it). The copy is the price of
// keeping unsafe off the trust boundary; it is garbage as soon as verify
// returns, before the payload is decoded, and the heap the snapshot keeps
// is unchanged.
func verify(method jwt.SigningMethod, signingInput, sig []byte, key crypto.PublicKey) error {
	return method.Verify(string(signingInput), sig, key)
}

// checkHeader decodes a JWS header (base64url) and returns its algorithm's
// SigningMethod if the key accepts it and the header asks for no extension
// the verifier does not understand. Open calls it, and so do sources, on
// the header alone, before they read the rest of a feed.
//
// The header is read with JSON v2's rules, like the feed itself: a repeated
// name, a name in other case ("ALG") or invalid UTF-8 is refused rather
// than resolved one way here and maybe another way by whoever signed it.
func (v *Verifier) checkHeader(headerB64 []byte) (jwt.SigningMethod, error) {
	var header struct {
		Alg  string   `json:"alg"`
		Crit []string `json:"crit"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(string(headerB64))
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return nil, fmt.Errorf("%w: unreadable header", ErrBadSignature)
	}
	i := slices.IndexFunc(v.methods, func(m jwt.SigningMethod) bool { return m.Alg() == header.Alg })
	if i < 0 {
		return nil, fmt.Errorf("%w: algorithm %q is not accepted for this key (want %v)", ErrBadSignature, header.Alg, v.Algorithms())
	}
	if len(header.Crit) > 0 {
		return nil, fmt.Errorf("%w: critical header extensions %v are not understood", ErrBadSignature, header.Crit)
	}
	return v.methods[i], nil
}

// Sign wraps feed JSON as a compact JWS signed with key (ECDSA P-256,
// Ed25519 or RSA; RSA signs RS256, or PS256 when pss is set). It is what
// `caddy pat-policy feed sign` runs; a feed publisher may use any JWS
// library instead.
func Sign(feed []byte, key crypto.Signer, pss bool) ([]byte, error) {
	var method jwt.SigningMethod
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("sign: ECDSA keys must use P-256")
		}
		method = jwt.SigningMethodES256
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
		if pss {
			method = jwt.SigningMethodPS256
		}
	default:
		return nil, fmt.Errorf("sign: unsupported key type %T", key)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + method.Alg() + `","typ":"JWT"}`))
	input := header + "." + base64.RawURLEncoding.EncodeToString(bytes.TrimSpace(feed))
	sig, err := method.Sign(input, key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return []byte(input + "." + base64.RawURLEncoding.EncodeToString(sig)), nil
}

// ParsePrivateKey reads a PEM private key (PKCS#8, PKCS#1 or SEC 1) for
// Sign.
func ParsePrivateKey(pemData []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("signing key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("signing key: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key: unsupported key type %T", key)
	}
	return s, nil
}
