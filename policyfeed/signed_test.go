package policyfeed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func pubPEM(t testing.TB, key crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

type testKeys struct {
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	rsa     *rsa.PrivateKey
	otherEC *ecdsa.PrivateKey
}

var keysOnce = func() func(t testing.TB) testKeys {
	var k *testKeys
	return func(t testing.TB) testKeys {
		if k == nil {
			ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			_, ed, _ := ed25519.GenerateKey(rand.Reader)
			rk, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			k = &testKeys{ec: ec, ed: ed, rsa: rk, otherEC: other}
		}
		return *k
	}
}()

func mustSign(t testing.TB, feed string, key crypto.Signer, pss bool) []byte {
	t.Helper()
	jws, err := Sign([]byte(feed), key, pss)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestSignedFeeds(t *testing.T) {
	k := keysOnce(t)
	const feed = `{"version": 3, "organizations": [{"login": "octo-org"}]}`
	ecV, err := NewVerifier(pubPEM(t, &k.ec.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("each key type verifies with its algorithm", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			priv crypto.Signer
			pub  crypto.PublicKey
			pss  bool
			alg  string
		}{
			{"ES256", k.ec, &k.ec.PublicKey, false, "ES256"},
			{"EdDSA", k.ed, k.ed.Public(), false, "EdDSA"},
			{"RS256", k.rsa, &k.rsa.PublicKey, false, "RS256"},
			{"PS256", k.rsa, &k.rsa.PublicKey, true, "PS256"},
		} {
			v, err := NewVerifier(pubPEM(t, tc.pub))
			if err != nil {
				t.Fatal(err)
			}
			jws := mustSign(t, feed, tc.priv, tc.pss)
			if !strings.Contains(string(mustDecodeHeader(t, jws)), `"alg":"`+tc.alg+`"`) {
				t.Errorf("%s: header %s", tc.name, mustDecodeHeader(t, jws))
			}
			p, err := Load(jws, v)
			if err != nil || p.Version() != 3 {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})

	header := func(alg string) string { return b64(`{"alg":"` + alg + `","typ":"JWT"}`) }
	valid := mustSign(t, feed, k.ec, false)
	parts := strings.Split(string(valid), ".")
	hmac := func() string {
		// The classic attack: HS256 keyed with the public key's bytes,
		// which every verifier has.
		input := header("HS256") + "." + b64(feed)
		sig, err := jwt.SigningMethodHS256.Sign(input, pubPEM(t, &k.ec.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}()
	expired := mustSign(t, fmt.Sprintf(`{"version": 3, "exp": %d}`, time.Now().Add(-time.Hour).Unix()), k.ec, false)
	notYet := mustSign(t, fmt.Sprintf(`{"version": 3, "nbf": %d}`, time.Now().Add(time.Hour).Unix()), k.ec, false)
	withinSkew := mustSign(t, fmt.Sprintf(`{"version": 3, "exp": %d}`, time.Now().Add(-10*time.Second).Unix()), k.ec, false)
	tests := []struct {
		name string
		data string
		v    *Verifier
		want error
	}{
		{"unsigned feed when a key is configured", feed, ecV, ErrUnsigned},
		{"signed by another key", string(mustSign(t, feed, k.otherEC, false)), ecV, ErrBadSignature},
		{"algorithm of another key type", string(mustSign(t, feed, k.rsa, false)), ecV, ErrBadSignature},
		{"alg none", header("none") + "." + b64(feed) + ".", ecV, ErrBadSignature},
		{"HMAC keyed with the public key", hmac, ecV, ErrBadSignature},
		{"stripped signature", parts[0] + "." + parts[1] + ".", ecV, ErrBadSignature},
		{"two parts", parts[0] + "." + parts[1], ecV, ErrBadSignature},
		{"tampered payload", parts[0] + "." + b64(strings.Replace(feed, "3", "9", 1)) + "." + parts[2], ecV, ErrBadSignature},
		{"signature of another payload", parts[0] + "." + parts[1] + "." + strings.Split(string(mustSign(t, `{"version":1}`, k.ec, false)), ".")[2], ecV, ErrBadSignature},
		{"critical header", b64(`{"alg":"ES256","crit":["exp"]}`) + "." + parts[1] + "." + parts[2], ecV, ErrBadSignature},
		{"unreadable header", "!!!." + parts[1] + "." + parts[2], ecV, ErrBadSignature},
		{"algorithm jwt knows but the key is not pinned to", header("ES384") + "." + parts[1] + "." + parts[2], ecV, ErrBadSignature},
		// A header that names alg twice, or in other case, could be read
		// one way here and another by the signer's tools.
		{"alg repeated", signedAs(t, b64(`{"alg":"none","alg":"ES256"}`)+"."+parts[1], k.ec), ecV, ErrBadSignature},
		{"alg in other case", signedAs(t, b64(`{"ALG":"ES256"}`)+"."+parts[1], k.ec), ecV, ErrBadSignature},
		{"four parts", signedAs(t, parts[0]+"."+parts[1]+"."+parts[1], k.ec), ecV, ErrBadSignature},
		{"expired", string(expired), ecV, ErrExpired},
		{"not yet valid", string(notYet), ecV, ErrExpired},
		{"invalid feed inside a valid signature", string(mustSign(t, `{"version": 0}`, k.ec, false)), ecV, ErrInvalidFeed},
		{"signed feed without a key configured", string(valid), nil, ErrUnexpectedSignature},
		{"expired unsigned feed", fmt.Sprintf(`{"version": 3, "exp": %d}`, time.Now().Add(-time.Hour).Unix()), nil, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load([]byte(tc.data), tc.v); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("exp within the clock skew", func(t *testing.T) {
		if _, err := Load(withinSkew, ecV); err != nil {
			t.Fatal(err)
		}
	})
}

// signedAs appends to a signing input its ES256 signature, whatever the
// input is, for the checks a good signature must not get past.
func signedAs(t testing.TB, input string, key *ecdsa.PrivateKey) string {
	t.Helper()
	sig, err := jwt.SigningMethodES256.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func mustDecodeHeader(t testing.TB, jws []byte) []byte {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(string(jws), ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewVerifierRejects(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	k := keysOnce(t)
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	for name, data := range map[string][]byte{
		"no PEM":           []byte("not a key"),
		"P-384":            pubPEM(t, &p384.PublicKey),
		"RSA 1024":         pubPEM(t, &small.PublicKey),
		"a private key":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		"garbage in block": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")}),
	} {
		if _, err := NewVerifier(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParsePrivateKey(t *testing.T) {
	k := keysOnce(t)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k.ed)
	ec, _ := x509.MarshalECPrivateKey(k.ec)
	for name, block := range map[string]*pem.Block{
		"PKCS#8 Ed25519": {Type: "PRIVATE KEY", Bytes: pkcs8},
		"SEC 1 ECDSA":    {Type: "EC PRIVATE KEY", Bytes: ec},
		"PKCS#1 RSA":     {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)},
	} {
		if _, err := ParsePrivateKey(pem.EncodeToMemory(block)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivateKey(pubPEM(t, &k.ec.PublicKey)); err == nil {
		t.Error("a public key accepted as a signing key")
	}
}

// acceptAll is a SigningMethod that verifies anything.
type acceptAll struct{}

func (acceptAll) Verify(string, []byte, any) error { return nil }
func (acceptAll) Sign(string, any) ([]byte, error) { return []byte("sig"), nil }
func (acceptAll) Alg() string                      { return "ES256" }

// TestVerifierIgnoresJWTRegistry: jwt keeps a global registry of
// algorithms by name that any package linked into the binary can write to.
// A dependency that registers its own "ES256" (a test double, a plugin
// with a bug) would then decide what verifies. The verifier holds jwt's
// ES256 itself, so a forged feed stays refused.
func TestVerifierIgnoresJWTRegistry(t *testing.T) {
	k := keysOnce(t)
	v, err := NewVerifier(pubPEM(t, &k.ec.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	orig := jwt.GetSigningMethod("ES256")
	jwt.RegisterSigningMethod("ES256", func() jwt.SigningMethod { return acceptAll{} })
	t.Cleanup(func() { jwt.RegisterSigningMethod("ES256", func() jwt.SigningMethod { return orig }) })

	forged := b64(`{"alg":"ES256"}`) + "." + b64(`{"version": 9}`) + "." + b64("sig")
	if _, err := Load([]byte(forged), v); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Load = %v, want %v", err, ErrBadSignature)
	}
}
