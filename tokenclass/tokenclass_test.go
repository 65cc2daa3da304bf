package tokenclass

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// Fake tokens, split so that no secret scanner mistakes them for real ones.
const (
	fakeBody    = "TESTONLY" + "0123456789abcdefghijklmnopqr"
	fakeClassic = "ghp_" + fakeBody
	fakeFine    = "github_pat_" + "11TESTONLY0000000000000_" + fakeBody
	fakeOAuth   = "gho_" + fakeBody
	fakeU2S     = "ghu_" + fakeBody
	fakeS2S     = "ghs_" + fakeBody
	fakeRefresh = "ghr_" + fakeBody
	fakeJWT     = "eyJhbGciOiJSUzI1NiJ9" + "." + "eyJpc3MiOiIxMjM0NSJ9" + "." + "c2lnbmF0dXJl"
	fakeHex40   = "0123456789abcdef" + "0123456789abcdef" + "01234567"
	fakeOther   = "not-a-github-token"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  Class
	}{
		{"empty", "", None},
		{"classic", fakeClassic, Classic},
		{"classic prefix only", "ghp_", Classic},
		{"classic upper prefix", "GHP_" + fakeBody, Classic},
		{"classic mixed prefix", "gHp_" + fakeBody, Classic},
		{"legacy hex lower", fakeHex40, Classic},
		{"legacy hex upper", strings.ToUpper(fakeHex40), Classic},
		{"legacy hex mixed", "ABCDEF" + fakeHex40[6:], Classic},
		{"hex 39", fakeHex40[:39], Other},
		{"hex 41", fakeHex40 + "8", Other},
		{"40 chars not hex", fakeHex40[:39] + "g", Other},
		{"fine grained", fakeFine, FineGrained},
		{"fine grained upper prefix", "GITHUB_PAT_" + fakeBody, FineGrained},
		{"oauth", fakeOAuth, OAuth},
		{"user to server", fakeU2S, UserToServer},
		{"server to server", fakeS2S, ServerToServer},
		{"refresh", fakeRefresh, Refresh},
		{"refresh upper prefix", "GHR_" + fakeBody, Refresh},
		{"jwt", fakeJWT, AppJWT},
		{"jwt minimal", "a.b.c", AppJWT},
		{"jwt empty segment", "a..c", Other},
		{"jwt leading dot", ".b.c", Other},
		{"jwt trailing dot", "a.b.", Other},
		{"jwt two segments", "a.b", Other},
		{"jwt four segments", "a.b.c.d", Other},
		{"jwt padded", "a.b.c=", Other},
		{"prefix beats jwt", "ghp_a.b.c", Classic},
		{"random", fakeOther, Other},
		{"unknown gh prefix", "ghx_" + fakeBody, Other},
		{"prefix without underscore", "ghp" + fakeBody, Other},
		{"unicode long s is not ascii s", "gh\u017f_" + fakeBody, Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.token); got != tt.want {
				t.Errorf("Classify(%s row) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		name  string
		class Class
		want  string
		isPAT bool
	}{
		{"none", None, "none", false},
		{"classic", Classic, "classic", true},
		{"fine grained", FineGrained, "fine_grained", true},
		{"oauth", OAuth, "oauth", false},
		{"user to server", UserToServer, "user_to_server", false},
		{"server to server", ServerToServer, "server_to_server", false},
		{"refresh", Refresh, "refresh", false},
		{"app jwt", AppJWT, "app_jwt", false},
		{"other", Other, "other", false},
		{"out of range", Class(200), "class(200)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.class.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := tt.class.IsPAT(); got != tt.isPAT {
				t.Errorf("IsPAT() = %v, want %v", got, tt.isPAT)
			}
		})
	}
}

func TestSourceString(t *testing.T) {
	tests := []struct {
		name   string
		source Source
		want   string
	}{
		{"none", SourceNone, "none"},
		{"token header", SourceTokenHeader, "token"},
		{"bearer", SourceBearer, "bearer"},
		{"basic", SourceBasic, "basic"},
		{"query", SourceQuery, "query"},
		{"out of range", Source(9), "source(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.source.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFingerprintOf(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		want   string
		prefix string
	}{
		// Known SHA-256 test vectors.
		{"test", "test", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9f86d081884c"},
		{"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "e3b0c44298fc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FingerprintOf(tt.token)
			if got := f.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
			if got := f.Prefix(); got != tt.prefix {
				t.Errorf("Prefix() = %s, want %s", got, tt.prefix)
			}
			if got := (Credential{Token: tt.token}).Fingerprint(); got != f {
				t.Errorf("Credential.Fingerprint() = %s, want %s", got.Prefix(), f.Prefix())
			}
			back, err := ParseFingerprint(f.String())
			if err != nil || back != f {
				t.Errorf("ParseFingerprint(String()) = %s, %v; want %s, nil", back.Prefix(), err, f.Prefix())
			}
		})
	}
}

func TestFingerprintOfLongToken(t *testing.T) {
	// Both sides of the stack-buffer bound must hash the same way.
	for _, n := range []int{maxStackToken, maxStackToken + 1, 4 * maxStackToken} {
		tok := strings.Repeat("x", n)
		if got, want := FingerprintOf(tok), Fingerprint(sha256.Sum256([]byte(tok))); got != want {
			t.Errorf("FingerprintOf(%d bytes) = %s, want %s", n, got.Prefix(), want.Prefix())
		}
	}
}

func TestFingerprintDistinguishesCase(t *testing.T) {
	// The fingerprint is of the exact string: classification folds case,
	// identity must not, or two tokens could share one policy entry.
	if FingerprintOf(fakeClassic) == FingerprintOf(strings.ToUpper(fakeClassic)) {
		t.Error("fingerprints of tokens differing only in case are equal")
	}
}

func TestParseFingerprint(t *testing.T) {
	const valid = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"valid", valid, false},
		{"all zero", strings.Repeat("0", 64), false},
		{"uppercase", strings.ToUpper(valid), true},
		{"one uppercase digit", "F" + valid[1:], true},
		{"63 chars", valid[:63], true},
		{"65 chars", valid + "0", true},
		{"empty", "", true},
		{"non hex", "g" + valid[1:], true},
		{"space", " " + valid[1:], true},
		{"0x prefix", "0x" + valid[2:], true},
		{"non ascii", "\u00e9" + valid[2:], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFingerprint(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadFingerprint) {
					t.Fatalf("err = %v, want ErrBadFingerprint", err)
				}
				if f != (Fingerprint{}) {
					t.Errorf("fingerprint = %s on error, want zero", f.Prefix())
				}
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Error("error text echoes the input")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if f.String() != tt.in {
				t.Errorf("round trip = %s, want %s", f, tt.in)
			}
		})
	}
}

// TestZeroAllocs guards the hot-path promise: classifying and fingerprinting
// run on every request and must not allocate.
func TestZeroAllocs(t *testing.T) {
	tokens := []string{fakeClassic, fakeFine, fakeHex40, fakeJWT, fakeOther, "", strings.Repeat("x", maxStackToken)}
	tests := []struct {
		name string
		fn   func(string)
	}{
		{"Classify", func(s string) { sinkClass = Classify(s) }},
		{"FingerprintOf", func(s string) { sinkFingerprint = FingerprintOf(s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, tok := range tokens {
				if n := testing.AllocsPerRun(100, func() { tt.fn(tok) }); n != 0 {
					t.Errorf("%s(%s class) allocates %v times, want 0", tt.name, Classify(tok), n)
				}
			}
		})
	}
}

var (
	sinkClass       Class
	sinkFingerprint Fingerprint
)

func BenchmarkClassify(b *testing.B) {
	benches := []struct {
		name  string
		token string
	}{
		{"classic", fakeClassic},
		{"fine_grained", fakeFine},
		{"legacy_hex", fakeHex40},
		{"jwt", fakeJWT},
		{"other", fakeOther},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkClass = Classify(bb.token)
			}
		})
	}
}

func BenchmarkFingerprintOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkFingerprint = FingerprintOf(fakeFine)
	}
}
