package lookup

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// now is the clock, replaceable in tests.
var now = time.Now

// App authenticates lookups as a GitHub App installation instead of with a
// fixed token: it signs an app JWT (RS256), exchanges it for an installation
// token, and refreshes that token before it expires. An installation token
// of an app installed on every organization with read access to metadata
// sees every repository, which is what lookups need.
type App struct {
	AppID          int64
	InstallationID int64
	Key            *rsa.PrivateKey
}

// refreshBefore is how long before its expiry an installation token is
// replaced: GitHub's last an hour, and a lookup must never carry one that
// expires on the way.
const refreshBefore = 5 * time.Minute

// appAuth holds the current installation token.
type appAuth struct {
	app     App
	baseURL string
	http    *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// authorization returns the Authorization value for a lookup, exchanging a
// new app JWT for an installation token when the current one is missing or
// about to expire. Concurrent callers wait for one exchange.
func (a *appAuth) authorization(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && now().Add(refreshBefore).Before(a.expires) {
		return "token " + a.token, nil
	}
	tok, exp, err := a.exchange(ctx)
	if err != nil {
		return "", err
	}
	a.token, a.expires = tok, exp
	return "token " + tok, nil
}

// JWT signs the app's JWT: issued a minute in the past to allow for clock
// drift, valid for nine minutes (GitHub accepts at most ten).
func (a App) JWT() (string, error) {
	t := now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.AppID, 10),
		IssuedAt:  jwt.NewNumericDate(t.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(t.Add(9 * time.Minute)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.Key)
}

func (a *appAuth) exchange(ctx context.Context) (string, time.Time, error) {
	signed, err := a.app.JWT()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: signing the app JWT: %w", ErrUnavailable, err)
	}
	path := "/app/installations/" + strconv.FormatInt(a.app.InstallationID, 10) + "/access_tokens"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+path, nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+signed)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "patgate")
	// a.http never follows redirects (see New): the app JWT would mint
	// installation tokens for whoever received it.
	resp, err := a.http.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: POST %s: %w", ErrUnavailable, path, err)
	}
	defer drain(resp)
	if isRedirect(resp.StatusCode) {
		return "", time.Time{}, fmt.Errorf("%w: POST %s: redirect (status %d) not followed", ErrRefused, path, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		// Whatever the status, a failed exchange is the app's
		// configuration or the host's, never the request's: an outage.
		return "", time.Time{}, fmt.Errorf("%w: POST %s: status %d", ErrUnavailable, path, resp.StatusCode)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.Token == "" || out.ExpiresAt.IsZero() {
		return "", time.Time{}, fmt.Errorf("%w: POST %s: no token and expiry in the answer", ErrUnavailable, path)
	}
	return out.Token, out.ExpiresAt, nil
}

// ParseAppKey reads a GitHub App's private key (PEM, PKCS#1 as GitHub
// issues it, or PKCS#8).
func ParseAppKey(pem []byte) (*rsa.PrivateKey, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("github app private key: %w", err)
	}
	return key, nil
}
