package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// serviceToken is the lookup credential the gateway is configured with.
const serviceToken = "lookup-service-credential"

// gitHost is a fake GitHub Enterprise Server: it answers the lookup API
// (repos, users, organizations, /user) from its maps, and records every
// other request as one the gateway forwarded.
type gitHost struct {
	*httptest.Server
	mu sync.Mutex
	// repos maps "owner/name" to {owner login, owner type, visibility}.
	repos map[string][3]string
	// accounts maps a login to its type.
	accounts map[string]string
	// users maps a raw token to the login GET /user answers for it.
	users map[string]string
	// failing lists "owner/name" whose lookup answers 502.
	failing   map[string]bool
	forwarded []forwarded
	lookups   int
}

// forwarded is what reached the host through the gateway.
type forwarded struct {
	Method, Path, RawQuery, Body string
	// AuthSHA is the SHA-256 of the Authorization header, so tests can
	// compare credentials without keeping them.
	AuthSHA string
}

func newGitHost(t *testing.T) *gitHost {
	h := &gitHost{
		repos: map[string][3]string{
			"octo-org/private":  {"octo-org", "Organization", "private"},
			"octo-org/public":   {"octo-org", "Organization", "public"},
			"octo-org/internal": {"octo-org", "Organization", "internal"},
			"open-org/private":  {"open-org", "Organization", "private"},
			"bob/private":       {"bob", "User", "private"},
		},
		accounts: map[string]string{"octo-org": "Organization", "open-org": "Organization", "bob": "User", "alice": "User"},
		users:    map[string]string{},
		failing:  map[string]bool{},
	}
	h.Server = httptest.NewServer(h)
	t.Cleanup(h.Close)
	return h
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (h *gitHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if auth == "token "+serviceToken {
		h.lookups++
		h.lookup(w, r)
		return
	}
	if r.URL.Path == "/api/v3/user" && strings.HasPrefix(auth, "token ") {
		if login, ok := h.users[strings.TrimPrefix(auth, "token ")]; ok {
			h.lookups++
			fmt.Fprintf(w, `{"login":%q,"type":"User"}`, login)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	h.forwarded = append(h.forwarded, forwarded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: string(body), AuthSHA: sha(auth)})
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "upstream: %s %s", r.Method, r.URL.Path)
}

func (h *gitHost) lookup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	switch {
	case strings.HasPrefix(p, "/repos/"):
		key := strings.ToLower(strings.TrimPrefix(p, "/repos/"))
		if h.failing[key] {
			http.Error(w, `{"message":"bad gateway"}`, http.StatusBadGateway)
			return
		}
		if repo, ok := h.repos[key]; ok {
			fmt.Fprintf(w, `{"id":1,"owner":{"login":%q,"type":%q},"visibility":%q,"private":%v}`, repo[0], repo[1], repo[2], repo[2] != "public")
			return
		}
	case strings.HasPrefix(p, "/users/"):
		login := strings.TrimPrefix(p, "/users/")
		if typ, ok := h.accounts[strings.ToLower(login)]; ok {
			fmt.Fprintf(w, `{"login":%q,"type":%q}`, strings.ToLower(login), typ)
			return
		}
	}
	http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
}

// last returns the last forwarded request and how many there were.
func (h *gitHost) last() (forwarded, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.forwarded) == 0 {
		return forwarded{}, 0
	}
	return h.forwarded[len(h.forwarded)-1], len(h.forwarded)
}

func (h *gitHost) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.forwarded)
}

func (h *gitHost) setFailing(key string, fail bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failing[key] = fail
}

func (h *gitHost) setUser(token, login string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[token] = login
}

// hostPort is the host's address for reverse_proxy.
func (h *gitHost) hostPort() string { return strings.TrimPrefix(h.URL, "http://") }
