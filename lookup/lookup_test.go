package lookup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// fakeHost serves the lookup API the way GitHub does, and counts calls.
type fakeHost struct {
	calls atomic.Int64
	auth  atomic.Value // last Authorization header seen
	slow  time.Duration
	down  atomic.Bool
}

func (f *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.auth.Store(r.Header.Get("Authorization"))
	if f.slow > 0 {
		time.Sleep(f.slow)
	}
	if f.down.Load() {
		http.Error(w, "boom", http.StatusBadGateway)
		return
	}
	switch r.URL.Path {
	case "/api/v3/repos/octo-org/private":
		fmt.Fprint(w, `{"id":1,"owner":{"login":"octo-org","type":"Organization"},"visibility":"private","private":true}`)
	case "/api/v3/repos/octo-org/public":
		fmt.Fprint(w, `{"id":2,"owner":{"login":"octo-org","type":"Organization"},"visibility":"public","private":false}`)
	case "/api/v3/repos/octo-org/old":
		http.Redirect(w, r, "/api/v3/repositories/3", http.StatusMovedPermanently)
	case "/api/v3/repositories/3":
		fmt.Fprint(w, `{"id":3,"owner":{"login":"New-Org","type":"Organization"},"visibility":"internal","private":true}`)
	case "/api/v3/repos/bob/legacy":
		fmt.Fprint(w, `{"id":4,"owner":{"login":"bob","type":"User"},"private":false}`)
	case "/api/v3/repos/octo-org/garbage":
		fmt.Fprint(w, `{"id":`)
	case "/api/v3/users/octo-org":
		fmt.Fprint(w, `{"login":"octo-org","type":"Organization"}`)
	case "/api/v3/users/bob":
		fmt.Fprint(w, `{"login":"bob","type":"User"}`)
	case "/api/v3/organizations/9":
		fmt.Fprint(w, `{"login":"octo-org","id":9}`)
	case "/api/v3/user/3407303":
		fmt.Fprint(w, `{"login":"octo-org","id":3407303,"type":"Organization"}`)
	case "/api/v3/teams/5":
		fmt.Fprint(w, `{"id":5,"slug":"core","organization":{"login":"octo-org","id":9}}`)
	case "/api/v3/user":
		if r.Header.Get("Authorization") == "token github_pat_alice" {
			fmt.Fprint(w, `{"login":"Alice"}`)
			return
		}
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	default:
		http.NotFound(w, r)
	}
}

func newClient(t *testing.T, f *fakeHost, cfg Config) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/api/v3"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestResource(t *testing.T) {
	f := &fakeHost{}
	c := newClient(t, f, Config{Token: "service-token"})
	repo := func(owner, name string) target.Target {
		return target.Target{Scope: target.Repository, Owner: owner, Name: name}
	}
	tests := []struct {
		name string
		tgt  target.Target
		want target.Resource
	}{
		{"private org repository", repo("octo-org", "private"), target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}},
		{"public org repository", repo("octo-org", "public"), target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic}},
		{"renamed repository follows the 301", repo("octo-org", "old"), target.Resource{Known: true, OwnerLogin: "New-Org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityInternal}},
		{"host without visibility field", repo("bob", "legacy"), target.Resource{Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPublic}},
		{"missing repository of an organization is private", repo("octo-org", "nope"), target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}},
		{"missing repository of a user", repo("bob", "nope"), target.Resource{Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPrivate}},
		{"missing owner", repo("ghost", "nope"), target.Resource{Known: true, Visibility: target.VisibilityPrivate}},
		{"repository by id", target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 3}, target.Resource{Known: true, OwnerLogin: "New-Org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityInternal}},
		{"missing repository id", target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 77}, target.Resource{Known: true}},
		{"organization by id", target.Target{Scope: target.Organization, IDKind: target.IDOrganization, ID: 9}, target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic}},
		{"account by id (GraphQL node IDs)", target.Target{Scope: target.User, IDKind: target.IDAccount, ID: 3407303}, target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic}},
		{"team", target.Target{Scope: target.Organization, IDKind: target.IDTeam, ID: 5}, target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization}},
		{"missing team", target.Target{Scope: target.Organization, IDKind: target.IDTeam, ID: 6}, target.Resource{Known: true}},
		{"user account", target.Target{Scope: target.User, Owner: "bob"}, target.Resource{Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPublic}},
		{"account that is an organization", target.Target{Scope: target.User, Owner: "octo-org"}, target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic}},
		{"nothing to look up", target.Target{Scope: target.Organization, Owner: "octo-org"}, target.Resource{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cached, err := c.Resource(context.Background(), tc.tgt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if cached {
				t.Error("first lookup reported as cached")
			}
			if tc.want.Known {
				before := f.calls.Load()
				again, cached, err := c.Resource(context.Background(), tc.tgt)
				if err != nil || again != got || !cached || f.calls.Load() != before {
					t.Errorf("second lookup: %+v cached=%v err=%v calls %d→%d", again, cached, err, before, f.calls.Load())
				}
			}
		})
	}
	if got := f.auth.Load(); got != "token service-token" {
		t.Errorf("service credential sent as %q", got)
	}
}

func TestStatsAndObserve(t *testing.T) {
	f := &fakeHost{}
	var calls []string
	var mu sync.Mutex
	c := newClient(t, f, Config{Observe: func(kind string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprint(kind, " ", err == nil))
	}})
	for range 3 {
		if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "public"}); err != nil {
			t.Fatal(err)
		}
	}
	f.down.Store(true)
	_, _, _ = c.Resource(context.Background(), target.Target{Scope: target.User, Owner: "bob"})
	if st := c.Stats(); st.Hits != 2 || st.Misses != 2 {
		t.Errorf("stats %+v, want 2 hits and 2 misses", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(calls, ",") != "repository true,account false" {
		t.Errorf("observed %v", calls)
	}
}

func TestResourceCaseInsensitive(t *testing.T) {
	f := &fakeHost{}
	c := newClient(t, f, Config{})
	if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "public"}); err != nil {
		t.Fatal(err)
	}
	_, cached, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "Octo-Org", Name: "PUBLIC"})
	if err != nil || !cached {
		t.Errorf("differently cased login missed the cache: cached=%v err=%v", cached, err)
	}
}

func TestResourceFailures(t *testing.T) {
	t.Run("5xx", func(t *testing.T) {
		f := &fakeHost{}
		f.down.Store(true)
		c := newClient(t, f, Config{})
		_, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "private"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
		// Failures are not cached: the host coming back is seen at once.
		f.down.Store(false)
		if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "private"}); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})
	t.Run("garbage JSON", func(t *testing.T) {
		c := newClient(t, &fakeHost{}, Config{})
		_, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "garbage"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c := newClient(t, &fakeHost{slow: 500 * time.Millisecond}, Config{Timeout: 50 * time.Millisecond})
		_, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "private"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		c, err := New(Config{BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _, err = c.Resource(context.Background(), target.Target{Scope: target.User, Owner: "bob"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestConcurrentMissesMakeOneCall(t *testing.T) {
	f := &fakeHost{slow: 50 * time.Millisecond}
	c := newClient(t, f, Config{})
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "public"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls for one key, want 1", n)
	}
}

func TestTokenOwner(t *testing.T) {
	f := &fakeHost{}
	c := newClient(t, f, Config{Token: "service-token"})
	fp := tokenclass.FingerprintOf("github_pat_alice")
	login, cached, err := c.TokenOwner(context.Background(), "github_pat_alice", fp)
	if err != nil || login != "alice" || cached {
		t.Fatalf("got %q cached=%v err=%v", login, cached, err)
	}
	if login, cached, _ = c.TokenOwner(context.Background(), "github_pat_alice", fp); login != "alice" || !cached {
		t.Errorf("second call: %q cached=%v", login, cached)
	}
	bad := tokenclass.FingerprintOf("github_pat_bad")
	if login, _, err := c.TokenOwner(context.Background(), "github_pat_bad", bad); err != nil || login != "" {
		t.Errorf("unknown token: %q %v", login, err)
	}
	f.down.Store(true)
	other := tokenclass.FingerprintOf("github_pat_other")
	if _, _, err := c.TokenOwner(context.Background(), "github_pat_other", other); !errors.Is(err, ErrUnavailable) {
		t.Errorf("host down: %v", err)
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "ghes.internal/api/v3", "ftp://x/api"} {
		if _, err := New(Config{BaseURL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func BenchmarkResourceCached(b *testing.B) {
	f := &fakeHost{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL + "/api/v3"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tgt := target.Target{Scope: target.Repository, Owner: "octo-org", Name: "public"}
	if _, _, err := c.Resource(context.Background(), tgt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Resource(context.Background(), tgt); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInvalidate(t *testing.T) {
	f := &fakeHost{}
	c := newClient(t, f, Config{TTL: time.Hour})
	repo := target.Target{Scope: target.Repository, Owner: "octo-org", Name: "public"}
	byID := target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 3}
	acct := target.Target{Scope: target.User, Owner: "bob"}
	for _, tg := range []target.Target{repo, byID, acct} {
		if _, _, err := c.Resource(context.Background(), tg); err != nil {
			t.Fatal(err)
		}
	}
	cached := func(tg target.Target) bool {
		_, hit, err := c.Resource(context.Background(), tg)
		if err != nil {
			t.Fatal(err)
		}
		return hit
	}
	c.Invalidate(Invalidation{Repositories: []string{"Octo-Org/PUBLIC"}})
	if cached(repo) {
		t.Error("repository still cached after invalidation (logins compare case-insensitively)")
	}
	if !cached(acct) || !cached(byID) {
		t.Error("invalidating one repository dropped others")
	}
	c.Invalidate(Invalidation{RepositoryIDs: []int64{3}, Accounts: []string{"bob"}})
	if cached(byID) || cached(acct) {
		t.Error("id or account still cached")
	}
	c.Invalidate(Invalidation{All: true})
	if cached(repo) {
		t.Error("cache not cleared")
	}
}
