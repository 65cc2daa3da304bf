// Package lookup asks the Git host's own REST API who owns a target and
// whether it is public, and who owns a fine-grained token, caching the
// answers in ristretto. Concurrent misses for one key make one upstream call.
package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	res     *ristretto.Cache[string, target.Resource]
	owners  *ristretto.Cache[string, string]
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
	c.res, err = ristretto.NewCache(&ristretto.Config[string, target.Resource]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxEntries, BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("resource cache: %w", err)
	}
	c.owners, err = ristretto.NewCache(&ristretto.Config[string, string]{
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
	var key, kind string
	var fetch func(context.Context) (target.Resource, error)
	switch {
	case t.Scope == target.Repository && t.IDKind == target.IDRepository:
		key, kind = "repository-id/"+strconv.FormatInt(t.ID, 10), "repository"
		fetch = func(ctx context.Context) (target.Resource, error) {
			return c.repository(ctx, "/repositories/"+strconv.FormatInt(t.ID, 10), "")
		}
	case t.Scope == target.Repository:
		key, kind = "repository/"+strings.ToLower(t.Owner)+"/"+strings.ToLower(t.Name), "repository"
		fetch = func(ctx context.Context) (target.Resource, error) {
			return c.repository(ctx, "/repos/"+url.PathEscape(t.Owner)+"/"+url.PathEscape(t.Name), t.Owner)
		}
	case t.Scope == target.Organization && t.IDKind == target.IDOrganization:
		key, kind = "organization-id/"+strconv.FormatInt(t.ID, 10), "account"
		fetch = func(ctx context.Context) (target.Resource, error) {
			return c.account(ctx, "/organizations/"+strconv.FormatInt(t.ID, 10))
		}
	case t.Scope == target.Organization && t.IDKind == target.IDTeam:
		key, kind = "team-id/"+strconv.FormatInt(t.ID, 10), "team"
		fetch = func(ctx context.Context) (target.Resource, error) {
			return c.team(ctx, t.ID)
		}
	case t.Scope == target.User:
		key, kind = "account/"+strings.ToLower(t.Owner), "account"
		fetch = func(ctx context.Context) (target.Resource, error) {
			return c.account(ctx, "/users/"+url.PathEscape(t.Owner))
		}
	default:
		return target.Resource{}, false, nil
	}
	if r, ok := c.res.Get(key); ok {
		c.hits.Add(1)
		return r, true, nil
	}
	c.misses.Add(1)
	v, err, _ := c.flight.Do(key, func() (any, error) {
		// One caller's cancellation must not fail the others waiting on
		// the same flight; the timeout still bounds it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		start := time.Now()
		r, err := fetch(fctx)
		c.observe(kind, start, err)
		if err != nil {
			return target.Resource{}, err
		}
		ttl := c.cfg.TTL
		if r.OwnerType == target.OwnerUnknown || r.Visibility == target.VisibilityUnknown && t.Scope == target.Repository {
			ttl = c.cfg.NegativeTTL
		}
		c.res.SetWithTTL(key, r, 1, ttl)
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

// TokenOwner returns the lowercase login of a token's owner by asking the
// host who the token is (GET /user with the token itself). A token the host
// does not accept has no owner: "" and no error. Answers are cached by
// fingerprint, never by token.
func (c *Client) TokenOwner(ctx context.Context, token string, fp tokenclass.Fingerprint) (string, bool, error) {
	key := string(fp[:])
	if login, ok := c.owners.Get(key); ok {
		c.hits.Add(1)
		return login, true, nil
	}
	c.misses.Add(1)
	v, err, _ := c.flight.Do("token/"+key, func() (any, error) {
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
		c.owners.SetWithTTL(key, login, 1, ttl)
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
