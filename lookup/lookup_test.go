package lookup

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	// hold, when set, keeps each call until it is closed or the client
	// gives up: tests wait for events, never for a time.
	hold chan struct{}
	down atomic.Bool
}

func (f *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.auth.Store(r.Header.Get("Authorization"))
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-r.Context().Done():
			return
		}
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
		// The host never answers: only the timeout can end the lookup.
		c := newClient(t, &fakeHost{hold: make(chan struct{})}, Config{Timeout: 50 * time.Millisecond})
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
	// The host holds the one call until all 200 callers have missed the
	// cache, so that they are concurrent by construction, not because the
	// call happened to be slower than their start.
	f := &fakeHost{hold: make(chan struct{})}
	c := newClient(t, f, Config{})
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "public"}); err != nil {
				t.Error(err)
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Misses < 200; {
		if time.Now().After(deadline) {
			close(f.hold)
			wg.Wait()
			t.Fatalf("%d of 200 callers missed the cache within 10s", c.Stats().Misses)
		}
		time.Sleep(time.Millisecond)
	}
	close(f.hold)
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
	c.Invalidate(Invalidation{RepositoryIDs: []int64{3}})
	if cached(byID) {
		t.Error("repository id still cached")
	}
	c.Invalidate(Invalidation{All: true})
	if cached(repo) {
		t.Error("cache not cleared")
	}
}

// redirectHost answers GET /repos/octo-org/{name} with the redirect its
// table names, and the rest as GitHub does.
type redirectHost struct {
	calls     atomic.Int64
	redirects map[string]redirect
}

type redirect struct {
	status   int
	location string // "" sends no Location header
}

func (h *redirectHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	switch p := r.URL.Path; p {
	case "/api/v3/repositories/3":
		fmt.Fprint(w, `{"id":3,"owner":{"login":"New-Org","type":"Organization"},"visibility":"internal","private":true}`)
	case "/api/v3/repositories/30":
		http.Redirect(w, r, "/api/v3/repositories/3", http.StatusMovedPermanently)
	case "/api/v3/repositories/31":
		http.NotFound(w, r)
	case "/api/v3/users/octo-org":
		fmt.Fprint(w, `{"login":"octo-org","type":"Organization"}`)
	default:
		rd, ok := h.redirects[strings.TrimPrefix(p, "/api/v3/repos/octo-org/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rd.location != "" {
			w.Header().Set("Location", rd.location)
		}
		w.WriteHeader(rd.status)
	}
}

// elsewhere is a server on another port of the same machine that must
// never be asked anything; it answers as if it were the host, with a
// user-owned public repository, the answer an attacker would want taken.
func elsewhere(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, `{"id":3,"owner":{"login":"mallory","type":"User"},"visibility":"public","private":false,"login":"mallory","type":"User","token":"ghs_x","expires_at":"2100-01-01T00:00:00Z"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// TestRedirects: a lookup answered with a redirect to another port of the
// same machine (a second service, or one an attacker runs there) used to be
// followed, and net/http re-sends "Authorization: token <service token>"
// to the same host on another port; the other port's answer ("mallory's
// public repository") was then taken for the host's. Only the 301 GitHub
// sends for a renamed repository, to {base}/repositories/{id} on the same
// origin, may be followed, once, whoever built the HTTP client.
func TestRedirects(t *testing.T) {
	evil, evilCalls := elsewhere(t)
	h := &redirectHost{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	renamed := target.Resource{Known: true, OwnerLogin: "New-Org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityInternal}
	tests := []struct {
		name      string
		redirect  redirect
		want      target.Resource
		wantErr   error
		wantCalls int64 // requests the host sees
	}{
		{"301 to /repositories/{id} is followed", redirect{301, "/api/v3/repositories/3"}, renamed, nil, 2},
		{"absolute 301 on the same origin", redirect{301, srv.URL + "/api/v3/repositories/3"}, renamed, nil, 2},
		{"301 to a missing id: a missing repository of the path's owner", redirect{301, "/api/v3/repositories/31"}, target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}, nil, 3},
		{"a second redirect is refused", redirect{301, "/api/v3/repositories/30"}, target.Resource{}, ErrRefused, 2},
		{"302 to /repositories/{id}", redirect{302, "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"307 to /repositories/{id}", redirect{307, "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"308 to /repositories/{id}", redirect{308, "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"301 to another port", redirect{301, evil.URL + "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"302 to another port", redirect{302, evil.URL + "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"307 to another port", redirect{307, evil.URL + "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"301 to another host name", redirect{301, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"301 to another path", redirect{301, "/api/v3/repos/new-org/app"}, target.Resource{}, ErrRefused, 1},
		{"301 outside the base path", redirect{301, "/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"301 to a sub-resource", redirect{301, "/api/v3/repositories/3/hooks"}, target.Resource{}, ErrRefused, 1},
		{"301 to a name, not an id", redirect{301, "/api/v3/repositories/three"}, target.Resource{}, ErrRefused, 1},
		{"301 to an id with a leading zero", redirect{301, "/api/v3/repositories/03"}, target.Resource{}, ErrRefused, 1},
		{"301 with a query", redirect{301, "/api/v3/repositories/3?access_token=x"}, target.Resource{}, ErrRefused, 1},
		{"301 with an encoded slash", redirect{301, "/api/v3/repositories/3%2F..%2F4"}, target.Resource{}, ErrRefused, 1},
		{"301 with credentials in the URL", redirect{301, strings.Replace(srv.URL, "http://", "http://u:p@", 1) + "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
		{"301 without Location", redirect{301, ""}, target.Resource{}, ErrRefused, 1},
		{"protocol-relative 301 to another port", redirect{301, strings.TrimPrefix(evil.URL, "http:") + "/api/v3/repositories/3"}, target.Resource{}, ErrRefused, 1},
	}
	h.redirects = map[string]redirect{}
	for i, tc := range tests {
		h.redirects[fmt.Sprint("app", i)] = tc.redirect
	}
	clients := map[string]*http.Client{
		"client built by New": nil,
		// http.Client's own policy follows ten redirects of any kind.
		"client supplied in Config": {},
	}
	for cname, hc := range clients {
		c, err := New(Config{BaseURL: srv.URL + "/api/v3", Token: "service-token", HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		for i, tc := range tests {
			t.Run(cname+"/"+tc.name, func(t *testing.T) {
				before := h.calls.Load()
				got, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: fmt.Sprint("app", i)})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) || errors.Is(err, ErrUnavailable) {
						t.Fatalf("got %+v, %v; want %v", got, err, tc.wantErr)
					}
				} else if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				if n := h.calls.Load() - before; n != tc.wantCalls {
					t.Errorf("host asked %d times, want %d", n, tc.wantCalls)
				}
				if n := evilCalls.Load(); n != 0 {
					t.Fatalf("the other port received %d requests", n)
				}
			})
		}
	}
	if hc := clients["client supplied in Config"]; hc.CheckRedirect != nil {
		t.Error("New changed the caller's client")
	}
}

// TestRedirectHTTPSToHTTP: a 301 from the https API to the same host and
// port over http would send the service token in clear text; it is refused
// before any connection is made.
func TestRedirectHTTPSToHTTP(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/api/v3/repositories/3", http.StatusMovedPermanently)
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/api/v3", Token: "service-token", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, _, err = c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "app"})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want the one TLS connection", n)
	}
}

// TestTokenOwnerRedirect: GET /user carries the user's own token; it is
// never sent anywhere but the base URL's origin, nor to another path there.
func TestTokenOwnerRedirect(t *testing.T) {
	evil, evilCalls := elsewhere(t)
	for _, rd := range []redirect{
		{301, evil.URL + "/api/v3/user"},
		{302, evil.URL + "/api/v3/user"},
		{307, evil.URL + "/api/v3/user"},
		{301, "/api/v3/repositories/3"},
	} {
		t.Run(fmt.Sprint(rd.status, " to ", rd.location), func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Location", rd.location)
				w.WriteHeader(rd.status)
			}))
			t.Cleanup(srv.Close)
			c, err := New(Config{BaseURL: srv.URL + "/api/v3", HTTPClient: &http.Client{}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			_, _, err = c.TokenOwner(context.Background(), "github_pat_alice", tokenclass.FingerprintOf("github_pat_alice"))
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("got %v, want ErrRefused", err)
			}
			if calls.Load() != 1 || evilCalls.Load() != 0 {
				t.Errorf("host asked %d times, the other port %d times; want 1 and 0", calls.Load(), evilCalls.Load())
			}
		})
	}
}

// statusHost answers every request with one status.
func statusHost(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"message":"no"}`)
	})
}

// TestErrorClasses: fail-open covers outages only. An answer provoked by
// what the request named (a 414 for a 60 KB name, a 422) must refuse the
// request even when failing open, or a client could turn any lookup into
// an outage at will and walk through; a 429 or a 5xx is the host's trouble.
func TestErrorClasses(t *testing.T) {
	lookups := []struct {
		name string
		do   func(c *Client) error
	}{
		{"repository", func(c *Client) error {
			_, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: "app"})
			return err
		}},
		{"repository by id", func(c *Client) error {
			_, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 3})
			return err
		}},
		{"account", func(c *Client) error {
			_, _, err := c.Resource(context.Background(), target.Target{Scope: target.User, Owner: "bob"})
			return err
		}},
		{"team", func(c *Client) error {
			_, _, err := c.Resource(context.Background(), target.Target{Scope: target.Organization, IDKind: target.IDTeam, ID: 5})
			return err
		}},
		{"token owner", func(c *Client) error {
			_, _, err := c.TokenOwner(context.Background(), "github_pat_x", tokenclass.FingerprintOf("github_pat_x"))
			return err
		}},
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T) (baseURL string)
		timeout time.Duration
		want    error
	}{
		{"414 name too long", serve(statusHost(http.StatusRequestURITooLong)), 0, ErrRefused},
		{"400", serve(statusHost(http.StatusBadRequest)), 0, ErrRefused},
		{"422", serve(statusHost(http.StatusUnprocessableEntity)), 0, ErrRefused},
		{"451", serve(statusHost(http.StatusUnavailableForLegalReasons)), 0, ErrRefused},
		{"500", serve(statusHost(http.StatusInternalServerError)), 0, ErrUnavailable},
		{"502", serve(statusHost(http.StatusBadGateway)), 0, ErrUnavailable},
		{"503", serve(statusHost(http.StatusServiceUnavailable)), 0, ErrUnavailable},
		{"429 rate limited", serve(statusHost(http.StatusTooManyRequests)), 0, ErrUnavailable},
		{"408", serve(statusHost(http.StatusRequestTimeout)), 0, ErrUnavailable},
		{"407", serve(statusHost(http.StatusProxyAuthRequired)), 0, ErrUnavailable},
		{"204 with no answer", serve(statusHost(http.StatusNoContent)), 0, ErrUnavailable},
		{"timeout", serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // until the client gives up
		})), 50 * time.Millisecond, ErrUnavailable},
		{"connection refused", func(t *testing.T) string {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return srv.URL
		}, 0, ErrUnavailable},
	}
	for _, tc := range tests {
		for _, l := range lookups {
			t.Run(tc.name+"/"+l.name, func(t *testing.T) {
				// A small cache: 65 clients with the default admission
				// counters take seconds under -race.
				c, err := New(Config{BaseURL: tc.setup(t) + "/api/v3", Timeout: tc.timeout, MaxEntries: 100})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.Close)
				err = l.do(c)
				other := ErrRefused
				if tc.want == ErrRefused {
					other = ErrUnavailable
				}
				if !errors.Is(err, tc.want) || errors.Is(err, other) {
					t.Errorf("got %v, want %v only", err, tc.want)
				}
			})
		}
	}
	// 401 and 403 blame the service credential (an outage), except for GET
	// /user, where they mean the user's token has no owner.
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		c, err := New(Config{BaseURL: serve(statusHost(status))(t) + "/api/v3"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.User, Owner: "bob"}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%d on a resource lookup: %v, want ErrUnavailable", status, err)
		}
		if login, _, err := c.TokenOwner(context.Background(), "github_pat_x", tokenclass.FingerprintOf("github_pat_x")); err != nil || login != "" {
			t.Errorf("%d on GET /user: %q %v, want no owner", status, login, err)
		}
	}
}

// serve is a setup that starts h for the test.
func serve(h http.Handler) func(t *testing.T) string {
	return func(t *testing.T) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
}

// TestOwnerNeverHalfKnown: whatever the host answers, for every kind of
// lookup, a known resource names its owner's login and type together or
// neither, so that an owner of "" never reaches the decision as if it were
// an account.
func TestOwnerNeverHalfKnown(t *testing.T) {
	kinds := map[string]target.Target{
		"repository":      {Scope: target.Repository, Owner: "octo-org", Name: "app"},
		"repository id":   {Scope: target.Repository, IDKind: target.IDRepository, ID: 3},
		"organization id": {Scope: target.Organization, IDKind: target.IDOrganization, ID: 9},
		"team id":         {Scope: target.Organization, IDKind: target.IDTeam, ID: 5},
		"account id":      {Scope: target.User, IDKind: target.IDAccount, ID: 7},
		"account":         {Scope: target.User, Owner: "octo-org"},
	}
	answers := []struct {
		name        string
		status      int
		login, kind string
	}{
		{"complete", 200, "octo-org", "Organization"},
		{"no login", 200, "", "Organization"},
		{"no type", 200, "octo-org", ""},
		{"unknown type", 200, "octo-org", "Enterprise"},
		{"nothing", 200, "", ""},
		{"404", 404, "", ""},
		{"410", 410, "", ""},
	}
	for _, a := range answers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(a.status)
			owner := fmt.Sprintf(`{"login":%q,"type":%q}`, a.login, a.kind)
			switch p := r.URL.Path; {
			case strings.HasPrefix(p, "/api/v3/repos/"), strings.HasPrefix(p, "/api/v3/repositories/"):
				fmt.Fprintf(w, `{"id":3,"owner":%s,"visibility":"private"}`, owner)
			case strings.HasPrefix(p, "/api/v3/teams/"):
				fmt.Fprintf(w, `{"id":5,"organization":{"login":%q}}`, a.login)
			default:
				fmt.Fprint(w, owner)
			}
		}))
		t.Cleanup(srv.Close)
		c, err := New(Config{BaseURL: srv.URL + "/api/v3", MaxEntries: 100})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		for kname, tgt := range kinds {
			t.Run(a.name+"/"+kname, func(t *testing.T) {
				got, _, err := c.Resource(context.Background(), tgt)
				if err != nil {
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("error %v is not ErrUnavailable", err)
					}
					return
				}
				if !got.Known {
					t.Fatalf("lookup answered without error but unknown: %+v", got)
				}
				if (got.OwnerLogin == "") != (got.OwnerType == target.OwnerUnknown) {
					t.Fatalf("half an owner: %+v", got)
				}
				if a.status != 200 && (got.OwnerLogin != "" || got.OwnerType != target.OwnerUnknown) {
					t.Errorf("%d answered with an owner: %+v", a.status, got)
				}
				if a.status == 200 && a.login == "" && got.OwnerLogin == "" {
					t.Errorf("an answer without owner became a known resource without owner: %+v", got)
				}
			})
		}
	}
}

// inFlightHost answers the first request for a repository only when the
// test releases it, with what the repository was (private), and every later
// one with what it is now (public).
type inFlightHost struct {
	calls   atomic.Int64
	arrived chan struct{}
	release chan struct{}
}

func (h *inFlightHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	vis := "public"
	if h.calls.Add(1) == 1 {
		h.arrived <- struct{}{}
		<-h.release
		vis = "private"
	}
	fmt.Fprintf(w, `{"id":7,"owner":{"login":"octo-org","type":"Organization"},"visibility":%q}`, vis)
}

// TestInvalidateInFlight: a repository is made public, then private again
// with a webhook; a lookup that asked the host just before the webhook
// arrived comes back afterwards with the old answer. Cached, it would stand
// for a whole TTL after the invalidation that should have removed it. It
// may answer the callers that asked before the invalidation, never the
// cache, and a caller arriving after the invalidation must not wait for it.
func TestInvalidateInFlight(t *testing.T) {
	repo := target.Target{Scope: target.Repository, Owner: "octo-org", Name: "app"}
	byID := target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 7}
	tests := []struct {
		name string
		tgt  target.Target
		inv  Invalidation
		late bool // a caller arrives after the invalidation, before the stale answer
	}{
		{"repository by name", repo, Invalidation{Repositories: []string{"octo-org/app"}}, false},
		{"repository by name, caller after the invalidation", repo, Invalidation{Repositories: []string{"Octo-Org/App"}}, true},
		{"repository by id", byID, Invalidation{RepositoryIDs: []int64{7}}, false},
		{"everything", repo, Invalidation{All: true}, false},
		{"everything, caller after the invalidation", byID, Invalidation{All: true}, true},
		{"another repository: the flight still may not store", repo, Invalidation{Repositories: []string{"octo-org/other"}}, false},
	}
	type result struct {
		res target.Resource
		hit bool
		err error
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &inFlightHost{arrived: make(chan struct{}), release: make(chan struct{})}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			var once sync.Once
			free := func() { once.Do(func() { close(h.release) }) }
			t.Cleanup(free) // before the server closes, should the test fail early
			c, err := New(Config{BaseURL: srv.URL + "/api/v3", TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			ask := func() <-chan result {
				ch := make(chan result, 1)
				go func() {
					r, hit, err := c.Resource(context.Background(), tc.tgt)
					ch <- result{r, hit, err}
				}()
				return ch
			}

			first := ask()
			<-h.arrived
			c.Invalidate(tc.inv)
			if tc.late {
				select {
				case got := <-ask():
					if got.err != nil || got.res.Visibility != target.VisibilityPublic || h.calls.Load() != 2 {
						t.Fatalf("caller after the invalidation: %+v, %v; host asked %d times, want the new answer and 2", got.res, got.err, h.calls.Load())
					}
				case <-time.After(10 * time.Second): // a failure guard, not synchronisation
					t.Fatal("the caller after the invalidation waited for the lookup begun before it")
				}
			}
			free()
			if got := <-first; got.err != nil || got.res.Visibility != target.VisibilityPrivate {
				t.Fatalf("caller before the invalidation: %+v, %v; want the answer of its time", got.res, got.err)
			}

			got := <-ask()
			if got.err != nil || got.res.Visibility != target.VisibilityPublic {
				t.Fatalf("after the stale flight: %+v, %v; want the host's new answer", got.res, got.err)
			}
			// With a late caller its fresh answer is the cached one; without,
			// this call asked the host itself.
			if got.hit != tc.late || h.calls.Load() != 2 {
				t.Errorf("after the stale flight: cached=%v, host asked %d times; want cached=%v, 2", got.hit, h.calls.Load(), tc.late)
			}
			if again := <-ask(); !again.hit || again.res.Visibility != target.VisibilityPublic {
				t.Errorf("the fresh answer was not cached: %+v", again)
			}
		})
	}
}
