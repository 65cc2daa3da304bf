// Package lookup asks the Git host's own REST API who owns a target and
// whether it is public, and who owns a fine-grained token, caching the
// answers in ristretto. Concurrent misses for one key make one upstream call.
package lookup

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// ErrUnavailable marks a lookup that failed (timeout, connection refused,
// 5xx, an answer that cannot be read): the policy could not be applied.
var ErrUnavailable = errors.New("lookup failed")

// Config configures a Client.
type Config struct {
	// BaseURL is the host's REST API root, e.g. https://ghes.internal/api/v3.
	BaseURL string
	// Token is the service credential sent as "Authorization: token …".
	// It must see every repository (a site administrator's token), or
	// private repositories look like missing ones, which still counts as
	// private but hides renames.
	Token string
	// App, when set, authenticates lookups as a GitHub App installation
	// instead of with Token.
	App *App
	// Timeout bounds one upstream call. Default 5s.
	Timeout time.Duration
	// TTL is how long an answer is kept. Default 2m.
	TTL time.Duration
	// NegativeTTL is how long a "not found" is kept. Default 30s, and never
	// more than TTL: a repository created meanwhile should not stay unknown.
	NegativeTTL time.Duration
	// MaxEntries bounds each cache. Default 100000.
	MaxEntries int64
	// HTTPClient is the client to use; nil means a new one with Timeout.
	HTTPClient *http.Client
	// Observe, if set, is told of every call to the host (never of cache
	// hits): what was looked up ("repository", "account", "team",
	// "token_owner"), how long it took and how it ended. It is the hook
	// for latency metrics.
	Observe func(kind string, took time.Duration, err error)
}

// Stats counts cache hits and misses since the client was made.
type Stats struct {
	Hits, Misses int64
}

// Client looks facts up and caches them. It is safe for concurrent use.
type Client struct {
	baseURL string
	token   string
	app     *appAuth
	cfg     Config
	http    *http.Client
	res     *ristretto.Cache[uint64, resourceEntry]
	owners  *ristretto.Cache[uint64, ownerEntry]
	seed    maphash.Seed
	flight  singleflight.Group

	hits, misses atomic.Int64
}

// Stats returns the cache hit and miss counts.
func (c *Client) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// observe reports one upstream call to Config.Observe.
func (c *Client) observe(kind string, start time.Time, err error) {
	if c.cfg.Observe != nil {
		c.cfg.Observe(kind, time.Since(start), err)
	}
}

// New returns a Client. Close it to release the caches.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("lookup base url %q: must be an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 2 * time.Minute
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 30 * time.Second
	}
	cfg.NegativeTTL = min(cfg.NegativeTTL, cfg.TTL)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	c := &Client{baseURL: u.String(), token: cfg.Token, cfg: cfg, http: hc}
	if cfg.App != nil {
		if cfg.Token != "" {
			return nil, fmt.Errorf("lookup: a token and a GitHub App are both configured; choose one")
		}
		if cfg.App.Key == nil || cfg.App.AppID <= 0 || cfg.App.InstallationID <= 0 {
			return nil, fmt.Errorf("lookup: the GitHub App needs an app id, an installation id and a private key")
		}
		c.app = &appAuth{app: *cfg.App, baseURL: c.baseURL, http: hc}
	}
	c.seed = maphash.MakeSeed()
	c.res, err = ristretto.NewCache(&ristretto.Config[uint64, resourceEntry]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxEntries, BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("resource cache: %w", err)
	}
	c.owners, err = ristretto.NewCache(&ristretto.Config[uint64, ownerEntry]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxEntries, BufferItems: 64,
	})
	if err != nil {
		c.res.Close()
		return nil, fmt.Errorf("token owner cache: %w", err)
	}
	return c, nil
}

// Close releases the caches.
func (c *Client) Close() {
	c.res.Close()
	c.owners.Close()
}

// Resource returns the owner and visibility of a target, and whether the
// answer came from the cache. Targets that need no lookup return the zero
// Resource.
func (c *Client) Resource(ctx context.Context, t target.Target) (target.Resource, bool, error) {
	// The cache key is built in a stack buffer and hashed, so that a hit
	// allocates nothing; the entry keeps the whole key to rule out a hash
	// collision answering for another resource.
	var buf [256]byte
	key, kind, ok := resourceKey(buf[:0], t)
	if !ok {
		return target.Resource{}, false, nil
	}
	if len(key) > len(buf) {
		// Too long for the stack buffer: allowed, just not free.
		key = append([]byte(nil), key...)
	}
	h := maphash.Bytes(c.seed, key)
	if e, ok := c.res.Get(h); ok && e.key == string(key) {
		c.hits.Add(1)
		return e.res, true, nil
	}
	c.misses.Add(1)
	skey := string(key)
	v, err, _ := c.flight.Do(skey, func() (any, error) {
		// One caller's cancellation must not fail the others waiting on
		// the same flight; the timeout still bounds it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		start := time.Now()
		r, err := c.fetchResource(fctx, t)
		c.observe(kind, start, err)
		if err != nil {
			return target.Resource{}, err
		}
		ttl := c.cfg.TTL
		if r.OwnerType == target.OwnerUnknown || r.Visibility == target.VisibilityUnknown && t.Scope == target.Repository {
			ttl = c.cfg.NegativeTTL
		}
		c.res.SetWithTTL(h, resourceEntry{key: skey, res: r}, 1, ttl)
		// Make the entry visible before the flight ends, so callers that
		// arrive just after it hit the cache instead of calling again.
		c.res.Wait()
		return r, nil
	})
	if err != nil {
		return target.Resource{}, false, err
	}
	return v.(target.Resource), false, nil
}

// resourceEntry is a cached answer with the key it answers.
type resourceEntry struct {
	key string
	res target.Resource
}

// resourceKey appends the cache key of a target (lowercase logins, since
// logins compare case-insensitively) and names the kind of lookup; ok is
// false for targets that need none.
func resourceKey(b []byte, t target.Target) (key []byte, kind string, ok bool) {
	switch {
	case t.Scope == target.Repository && t.IDKind == target.IDRepository:
		return strconv.AppendInt(append(b, "repository-id/"...), t.ID, 10), "repository", true
	case t.Scope == target.Repository:
		b = appendLower(append(b, "repository/"...), t.Owner)
		return appendLower(append(b, '/'), t.Name), "repository", true
	case t.Scope == target.Organization && t.IDKind == target.IDOrganization:
		return strconv.AppendInt(append(b, "organization-id/"...), t.ID, 10), "account", true
	case t.Scope == target.Organization && t.IDKind == target.IDTeam:
		return strconv.AppendInt(append(b, "team-id/"...), t.ID, 10), "team", true
	case t.Scope == target.User && t.IDKind == target.IDAccount:
		return strconv.AppendInt(append(b, "account-id/"...), t.ID, 10), "account", true
	case t.Scope == target.User:
		return appendLower(append(b, "account/"...), t.Owner), "account", true
	}
	return nil, "", false
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// fetchResource asks the host about a target.
func (c *Client) fetchResource(ctx context.Context, t target.Target) (target.Resource, error) {
	switch {
	case t.Scope == target.Repository && t.IDKind == target.IDRepository:
		return c.repository(ctx, "/repositories/"+strconv.FormatInt(t.ID, 10), "")
	case t.Scope == target.Repository:
		return c.repository(ctx, "/repos/"+url.PathEscape(t.Owner)+"/"+url.PathEscape(t.Name), t.Owner)
	case t.Scope == target.Organization && t.IDKind == target.IDOrganization:
		return c.account(ctx, "/organizations/"+strconv.FormatInt(t.ID, 10))
	case t.Scope == target.Organization && t.IDKind == target.IDTeam:
		return c.team(ctx, t.ID)
	case t.IDKind == target.IDAccount:
		// GET /user/{account_id}: a user or organization by database id.
		return c.account(ctx, "/user/"+strconv.FormatInt(t.ID, 10))
	}
	return c.account(ctx, "/users/"+url.PathEscape(t.Owner))
}

// ownerEntry is a cached token owner with the fingerprint it answers.
type ownerEntry struct {
	fp    tokenclass.Fingerprint
	login string
}

// TokenOwner returns the lowercase login of a token's owner by asking the
// host who the token is (GET /user with the token itself). A token the host
// does not accept has no owner: "" and no error. Answers are cached by
// fingerprint, never by token.
func (c *Client) TokenOwner(ctx context.Context, token string, fp tokenclass.Fingerprint) (string, bool, error) {
	// A fingerprint is already a uniform hash; the entry keeps all of it.
	h := binary.LittleEndian.Uint64(fp[:8])
	if e, ok := c.owners.Get(h); ok && e.fp == fp {
		c.hits.Add(1)
		return e.login, true, nil
	}
	c.misses.Add(1)
	v, err, _ := c.flight.Do("token/"+string(fp[:]), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		var u struct {
			Login string `json:"login"`
		}
		start := time.Now()
		status, err := c.get(fctx, "/user", "token "+token, &u)
		c.observe("token_owner", start, err)
		if err != nil {
			return "", err
		}
		login := ""
		ttl := c.cfg.TTL
		switch status {
		case http.StatusOK:
			login = strings.ToLower(u.Login)
		case http.StatusUnauthorized, http.StatusForbidden:
			ttl = c.cfg.NegativeTTL
		default:
			return "", fmt.Errorf("%w: GET /user: unexpected status %d", ErrUnavailable, status)
		}
		c.owners.SetWithTTL(h, ownerEntry{fp: fp, login: login}, 1, ttl)
		c.owners.Wait()
		return login, nil
	})
	if err != nil {
		return "", false, err
	}
	return v.(string), false, nil
}

type repoJSON struct {
	ID    int64 `json:"id"`
	Owner struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"owner"`
	Visibility string `json:"visibility"`
	Private    *bool  `json:"private"`
}

// repository looks a repository up. The HTTP client follows the 301 the host
// sends for a renamed or transferred repository, so the owner is the
// current one. A repository that does not exist counts as a private resource
// of the account named in the path, whose type a second lookup tells.
func (c *Client) repository(ctx context.Context, path, pathOwner string) (target.Resource, error) {
	var r repoJSON
	status, err := c.getService(ctx, path, &r)
	if err != nil {
		return target.Resource{}, err
	}
	switch status {
	case http.StatusOK:
		res := target.Resource{Known: true, OwnerLogin: r.Owner.Login, OwnerType: ownerType(r.Owner.Type)}
		if r.Owner.Login == "" || res.OwnerType == target.OwnerUnknown {
			return target.Resource{}, fmt.Errorf("%w: GET %s: answer has no owner login and type", ErrUnavailable, path)
		}
		res.Visibility = target.ParseVisibility(r.Visibility)
		if r.Visibility == "" && r.Private != nil {
			// Hosts that predate the visibility field.
			res.Visibility = target.VisibilityPrivate
			if !*r.Private {
				res.Visibility = target.VisibilityPublic
			}
		}
		return res, nil
	case http.StatusNotFound, http.StatusGone:
		if pathOwner == "" {
			return target.Resource{Known: true}, nil
		}
		acc, err := c.account(ctx, "/users/"+url.PathEscape(pathOwner))
		if err != nil {
			return target.Resource{}, err
		}
		acc.Visibility = target.VisibilityPrivate
		return acc, nil
	}
	return target.Resource{}, fmt.Errorf("%w: GET %s: unexpected status %d", ErrUnavailable, path, status)
}

// account looks up a user or organization (/users/{login},
// /organizations/{id}). Its profile is public.
func (c *Client) account(ctx context.Context, path string) (target.Resource, error) {
	var a struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	}
	status, err := c.getService(ctx, path, &a)
	if err != nil {
		return target.Resource{}, err
	}
	switch status {
	case http.StatusOK:
		t := ownerType(a.Type)
		if strings.HasPrefix(path, "/organizations/") && a.Type == "" {
			// GET /organizations/{id} answers an organization without "type".
			t = target.OwnerOrganization
		}
		if a.Login == "" || t == target.OwnerUnknown {
			return target.Resource{}, fmt.Errorf("%w: GET %s: answer has no login and type", ErrUnavailable, path)
		}
		return target.Resource{Known: true, OwnerLogin: a.Login, OwnerType: t, Visibility: target.VisibilityPublic}, nil
	case http.StatusNotFound, http.StatusGone:
		return target.Resource{Known: true}, nil
	}
	return target.Resource{}, fmt.Errorf("%w: GET %s: unexpected status %d", ErrUnavailable, path, status)
}

// team looks up a team's organization (GET /teams/{id}, the legacy route
// GitHub Enterprise Server still serves).
func (c *Client) team(ctx context.Context, id int64) (target.Resource, error) {
	path := "/teams/" + strconv.FormatInt(id, 10)
	var tm struct {
		Organization struct {
			Login string `json:"login"`
		} `json:"organization"`
	}
	status, err := c.getService(ctx, path, &tm)
	if err != nil {
		return target.Resource{}, err
	}
	switch status {
	case http.StatusOK:
		if tm.Organization.Login == "" {
			return target.Resource{}, fmt.Errorf("%w: GET %s: answer has no organization login", ErrUnavailable, path)
		}
		return target.Resource{Known: true, OwnerLogin: tm.Organization.Login, OwnerType: target.OwnerOrganization}, nil
	case http.StatusNotFound, http.StatusGone:
		return target.Resource{Known: true}, nil
	}
	return target.Resource{}, fmt.Errorf("%w: GET %s: unexpected status %d", ErrUnavailable, path, status)
}

func ownerType(s string) target.OwnerType {
	switch s {
	case "Organization":
		return target.OwnerOrganization
	case "User", "Bot":
		return target.OwnerUser
	}
	return target.OwnerUnknown
}

// serviceAuth is the Authorization value of a lookup: the configured token,
// or the GitHub App's current installation token.
func (c *Client) serviceAuth(ctx context.Context) (string, error) {
	if c.app != nil {
		return c.app.authorization(ctx)
	}
	if c.token == "" {
		return "", nil
	}
	return "token " + c.token, nil
}

// getService is get with the service credential.
func (c *Client) getService(ctx context.Context, path string, v any) (int, error) {
	auth, err := c.serviceAuth(ctx)
	if err != nil {
		return 0, err
	}
	return c.get(ctx, path, auth, v)
}

// get fetches path under the base URL and decodes a 200 answer into v. It
// returns the status; errors are transport failures and unreadable 200s.
func (c *Client) get(ctx context.Context, path, auth string, v any) (int, error) {
	// path is already escaped segment by segment.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "patgate")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The error text holds the URL, never the Authorization header.
		return 0, fmt.Errorf("%w: GET %s: %w", ErrUnavailable, path, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 1<<20)
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return 0, fmt.Errorf("%w: GET %s: %w", ErrUnavailable, path, err)
	}
	return resp.StatusCode, nil
}
