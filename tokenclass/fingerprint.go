package tokenclass

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrBadFingerprint is wrapped by every error ParseFingerprint returns.
var ErrBadFingerprint = errors.New("bad fingerprint")

// Fingerprint is the SHA-256 of the exact token string: the token's identity
// in the policy feed, so that the feed and the logs never hold the token.
type Fingerprint [32]byte

// maxStackToken bounds the tokens FingerprintOf hashes without allocating.
// 1 KiB covers every GitHub token format, GitHub App JWTs included.
const maxStackToken = 1024

// FingerprintOf returns the fingerprint of token. It does not allocate for
// tokens up to 1 KiB, so it is cheap enough to run on every request.
func FingerprintOf(token string) Fingerprint {
	// A plain []byte(token) conversion allocates for strings over 32 bytes,
	// and unsafe is not worth it here: copying into a stack buffer that
	// Sum256 does not keep costs a few nanoseconds (TestZeroAllocs guards
	// that it stays on the stack).
	if len(token) <= maxStackToken {
		var buf [maxStackToken]byte
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(token))
}

// String returns the fingerprint as 64 lowercase hex digits, the form the
// policy feed uses.
func (f Fingerprint) String() string {
	return hex.EncodeToString(f[:])
}

// Prefix returns the first 12 hex digits of the fingerprint: enough for an
// operator to correlate log lines with the feed, too short to be the full
// identity a log reader could replay against the feed.
func (f Fingerprint) Prefix() string {
	return hex.EncodeToString(f[:6])
}

// ParseFingerprint parses exactly 64 lowercase hex digits, the form String
// returns. Uppercase is rejected so that each fingerprint has one spelling
// and feed entries can be compared as text.
func ParseFingerprint(s string) (Fingerprint, error) {
	return parseFingerprint(s)
}

// ParseFingerprintBytes is ParseFingerprint for bytes, so that a feed of a
// million records is parsed without a string per fingerprint.
func ParseFingerprintBytes(b []byte) (Fingerprint, error) {
	return parseFingerprint(b)
}

func parseFingerprint[T string | []byte](s T) (Fingerprint, error) {
	var f Fingerprint
	// The input is never echoed: an operator may paste a token by mistake.
	if len(s) != 2*len(f) {
		return Fingerprint{}, fmt.Errorf("%w: want %d lowercase hex digits, got %d characters", ErrBadFingerprint, 2*len(f), len(s))
	}
	for i := range f {
		hi, ok1 := lowerHexValue(s[2*i])
		lo, ok2 := lowerHexValue(s[2*i+1])
		if !ok1 || !ok2 {
			return Fingerprint{}, fmt.Errorf("%w: want %d lowercase hex digits", ErrBadFingerprint, 2*len(f))
		}
		f[i] = hi<<4 | lo
	}
	return f, nil
}

func lowerHexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// AuditForm is the fingerprint as GitHub's audit log writes a token's
// hashed_token: the SHA-256 in standard base64 with padding, as
// `echo -n TOKEN | openssl dgst -sha256 -binary | base64` prints it.
func (f Fingerprint) AuditForm() string {
	return base64.StdEncoding.EncodeToString(f[:])
}

// ParseAuditForm reads a fingerprint in its audit-log form (AuditForm).
func ParseAuditForm(s string) (Fingerprint, error) {
	var f Fingerprint
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(f) {
		return f, ErrBadFingerprint
	}
	copy(f[:], b)
	return f, nil
}
