// Package tokenclass extracts the one credential an HTTP request carries and
// classifies it, so that patgate can decide which GitHub token policy applies.
//
// The package is deliberately strict: whenever a request could carry a
// credential that the gateway would not see, or two credentials of which the
// upstream might use the other one, it returns an error rather than a guess.
// Nothing in this package ever logs, prints or puts a raw token into an error.
package tokenclass

import "strconv"

// Class is the kind of credential, as told by the token's shape alone.
type Class uint8

// The classes of credential. Prefixed GitHub tokens are recognised by their
// documented prefix; see Classify for the exact rules.
const (
	None           Class = iota // no credential (anonymous)
	Classic                     // "ghp_" prefix, or a legacy token of exactly 40 hex digits
	FineGrained                 // "github_pat_" prefix
	OAuth                       // "gho_" prefix
	UserToServer                // "ghu_" prefix
	ServerToServer              // "ghs_" prefix
	Refresh                     // "ghr_" prefix
	AppJWT                      // three non-empty base64url segments separated by dots
	Other                       // anything else
)

var classNames = [...]string{
	None:           "none",
	Classic:        "classic",
	FineGrained:    "fine_grained",
	OAuth:          "oauth",
	UserToServer:   "user_to_server",
	ServerToServer: "server_to_server",
	Refresh:        "refresh",
	AppJWT:         "app_jwt",
	Other:          "other",
}

// String returns the class's stable name, as used in policies and logs.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// IsPAT reports whether c is a personal access token class, the only classes
// that patgate governs.
func (c Class) IsPAT() bool {
	return c == Classic || c == FineGrained
}

// tokenPrefixes is checked in order; "github_pat_" cannot collide with the
// four-byte "gh?_" prefixes, so the order only matters for speed.
var tokenPrefixes = [...]struct {
	prefix string // lowercase ASCII
	class  Class
}{
	{"ghp_", Classic},
	{"github_pat_", FineGrained},
	{"gho_", OAuth},
	{"ghu_", UserToServer},
	{"ghs_", ServerToServer},
	{"ghr_", Refresh},
}

// Classify returns the class of token from its shape alone; it does not
// allocate. The empty string is None.
//
// Prefixes match ASCII case-insensitively: GitHub would reject "GHP_…", but
// the gateway fails safe and governs anything that might be a PAT. A legacy
// classic token is exactly 40 hexadecimal digits of either case. Prefixes win
// over the other shapes, so "ghp_a.b.c" is Classic, not AppJWT.
func Classify(token string) Class {
	if token == "" {
		return None
	}
	for _, p := range tokenPrefixes {
		if hasPrefixFold(token, p.prefix) {
			return p.class
		}
	}
	if isLegacyClassic(token) {
		return Classic
	}
	if isJWT(token) {
		return AppJWT
	}
	return Other
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case
// only. prefix must be lowercase. strings.EqualFold is not used because its
// Unicode folding would let "ſ" (U+017F) or "K" (U+212A) match ASCII letters.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerASCII(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// equalFoldASCII reports whether s equals lower, ignoring ASCII case only.
// lower must be lowercase.
func equalFoldASCII(s, lower string) bool {
	return len(s) == len(lower) && hasPrefixFold(s, lower)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func isLegacyClassic(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isJWT reports whether s is three non-empty base64url segments joined by
// dots. It checks the shape only: the gateway never needs to read the claims
// to know that a JWT is not a PAT.
func isJWT(s string) bool {
	dots := 0
	segLen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return dots == 2 && segLen > 0
}
