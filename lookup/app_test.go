package lookup

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/patgate/patgate/target"
)

// appHost is a fake host that issues installation tokens only for a valid
// app JWT, signed with the app's key, and serves lookups only with a token
// it issued and that has not expired.
type appHost struct {
	pub       *rsa.PublicKey
	exchanges atomic.Int64
	lifetime  time.Duration
	mu        sync.Mutex
	issued    map[string]time.Time
}

func (h *appHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v3/app/installations/77/access_tokens" {
		if r.Method != http.MethodPost {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims := &jwt.RegisteredClaims{}
		tok, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return h.pub, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("1234"), jwt.WithIssuedAt(), jwt.WithTimeFunc(now))
		if !ok || err != nil || !tok.Valid {
			http.Error(w, `{"message":"A JSON web token could not be decoded"}`, http.StatusUnauthorized)
			return
		}
		if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life > 10*time.Minute {
			http.Error(w, `{"message":"'Expiration time' claim ('exp') is too far in the future"}`, http.StatusUnauthorized)
			return
		}
		n := h.exchanges.Add(1)
		token := fmt.Sprintf("ghs_installation%d", n)
		exp := now().Add(h.lifetime)
		h.mu.Lock()
		h.issued[token] = exp
		h.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":%q,"expires_at":%q}`, token, exp.UTC().Format(time.RFC3339))
		return
	}
	h.mu.Lock()
	exp, ok := h.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "token ")]
	h.mu.Unlock()
	if !ok || now().After(exp) {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, `{"login":"octo-org","type":"Organization"}`)
}

func newAppKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestAppLookups(t *testing.T) {
	key := newAppKey(t)
	host := &appHost{pub: &key.PublicKey, lifetime: time.Hour, issued: map[string]time.Time{}}
	srv := httptest.NewServer(host)
	defer srv.Close()
	base := time.Now()
	clock := base
	var clockMu sync.Mutex
	now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	defer func() { now = time.Now }()
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }

	c, err := New(Config{BaseURL: srv.URL + "/api/v3", App: &App{AppID: 1234, InstallationID: 77, Key: key}, TTL: time.Millisecond, NegativeTTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lookup := func(login string) error {
		_, _, err := c.Resource(context.Background(), target.Target{Scope: target.User, Owner: login})
		return err
	}
	if err := lookup("a"); err != nil {
		t.Fatalf("first lookup: %v", err)
	}
	if n := host.exchanges.Load(); n != 1 {
		t.Fatalf("%d token exchanges, want 1", n)
	}
	// Within the token's life: no new exchange, even for concurrent lookups.
	advance(30 * time.Minute)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := lookup(fmt.Sprint("b", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := host.exchanges.Load(); n != 1 {
		t.Fatalf("%d token exchanges within the token's life, want 1", n)
	}
	// Five minutes before expiry the token is replaced, before the host
	// would refuse it.
	advance(26 * time.Minute)
	if err := lookup("c"); err != nil {
		t.Fatalf("lookup near expiry: %v", err)
	}
	if n := host.exchanges.Load(); n != 2 {
		t.Fatalf("%d token exchanges, want 2 after refresh", n)
	}
}

func TestAppRejected(t *testing.T) {
	key := newAppKey(t)
	other := newAppKey(t)
	host := &appHost{pub: &other.PublicKey, lifetime: time.Hour, issued: map[string]time.Time{}}
	srv := httptest.NewServer(host)
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL + "/api/v3", App: &App{AppID: 1234, InstallationID: 77, Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.Resource(context.Background(), target.Target{Scope: target.User, Owner: "a"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a JWT signed with the wrong key: got %v, want ErrUnavailable", err)
	}
}

func TestAppConfig(t *testing.T) {
	key := newAppKey(t)
	der := x509.MarshalPKCS1PrivateKey(key)
	parsed, err := ParseAppKey(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
	if err != nil || !parsed.Equal(key) {
		t.Fatalf("PKCS#1 key: %v", err)
	}
	if _, err := ParseAppKey([]byte("not a key")); err == nil {
		t.Error("garbage accepted as a key")
	}
	for name, cfg := range map[string]Config{
		"token and app": {BaseURL: "http://x/api/v3", Token: "t", App: &App{AppID: 1, InstallationID: 2, Key: key}},
		"no key":        {BaseURL: "http://x/api/v3", App: &App{AppID: 1, InstallationID: 2}},
		"no app id":     {BaseURL: "http://x/api/v3", App: &App{InstallationID: 2, Key: key}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAppExchangeRedirect: the app JWT mints installation tokens for
// whoever holds it for nine minutes. A token exchange answered with a
// redirect to another port (net/http re-sends a 307's body and, to the same
// host, its Authorization) must fail without the JWT going there.
func TestAppExchangeRedirect(t *testing.T) {
	key := newAppKey(t)
	evil, evilCalls := elsewhere(t)
	for _, status := range []int{301, 302, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				http.Redirect(w, r, evil.URL+r.URL.Path, status)
			}))
			t.Cleanup(srv.Close)
			c, err := New(Config{BaseURL: srv.URL + "/api/v3", App: &App{AppID: 1234, InstallationID: 77, Key: key}, HTTPClient: &http.Client{}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			_, _, err = c.Resource(context.Background(), target.Target{Scope: target.User, Owner: "a"})
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("got %v, want ErrRefused", err)
			}
			if calls.Load() != 1 || evilCalls.Load() != 0 {
				t.Errorf("host asked %d times, the other port %d times; want 1 and 0", calls.Load(), evilCalls.Load())
			}
		})
	}
}
