// Package lookup asks the Git host's own REST API who owns a target and
// whether it is public, and who owns a fine-grained token, caching the
// answers in ristretto. Concurrent misses for one key make one upstream call.
//
// A failed lookup is one of two kinds, told apart with errors.Is, because
// fail-open covers outages only (SPEC §4):
//
//   - ErrUnavailable: the host could not give an answer — a timeout, a
//     refused connection, a 5xx, an answer that cannot be read, or a 401,
//     403, 407, 408 or 429, which come from the service credential or rate
//     limits rather than from what the request named. A gateway configured
//     to fail open may forward the request.
//   - ErrRefused: the host did answer, and the answer refuses the lookup: a
//     4xx other than those and 404/410 (a name the host will not accept:
//     400, 414, 422, …), or a redirect other than the one SPEC §4 sanctions.
//     The request provoked it, so it is no outage: the request must be
//     refused even when failing open.
//
// The only redirect followed is the 301 GitHub sends for a renamed or
// transferred repository, to {base}/repositories/{id} on the base URL's
// scheme, host and port, and only once. Any other redirect fails the lookup
// without being followed, whatever Config.HTTPClient would do, so that no
// credential (the service token, an app JWT, a user's own token) is ever
// sent to another origin and no other origin's answer is taken for the
// host's.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// ErrUnavailable marks a lookup the host could not answer (timeout,
// connection refused, 5xx, an unreadable answer, or an answer that blames
// the service credential or a rate limit: 401, 403, 407, 408, 429). It is an
// outage: the policy could not be applied, and fail-open may forward.
var ErrUnavailable = errors.New("lookup failed")

// ErrRefused marks a lookup the host refused because of what the request
// named (a 4xx other than 401, 403, 404, 407, 408, 410 and 429, such as a
// 414 for a name too long or a 422), or a redirect SPEC §4 does not
// sanction. It is no outage: the request must be refused, even when the
// gateway is configured to fail open. It never matches ErrUnavailable.
var ErrRefused = errors.New("lookup refused")

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
	// MaxEntries bounds the number of answers in each cache (the resources
	// and the token owners). Default 100000.
	MaxEntries int64
	// MaxBytes bounds the memory each cache holds, counting every entry at
	// its real size: its key, the strings of its answer and a fixed
	// overhead. Default 64 MiB. Whichever of MaxEntries and MaxBytes is
	// reached first bounds the cache, so long names (a 60 KB repository
	// name is a legal URL) cannot grow it past MaxBytes.
	MaxBytes int64
	// HTTPClient is the client to use; nil means a new one with Timeout.
	// Its redirect policy is replaced: lookups follow only the redirect
	// SPEC §4 sanctions, and follow it themselves.
	HTTPClient *http.Client
	// Observe, if set, is told of every call to the host (never of cache
	// hits): what was looked up ("repository", "account", "team",
	// "token_owner"), how long it took and how it ended. It is the hook
	// for latency metrics.
	Observe func(kind string, took time.Duration, err error)
}

// Defaults of Config.
const (
	defaultMaxEntries = 100000
	defaultMaxBytes   = 64 << 20
)

// entryOverhead is what a cache entry costs beyond its strings: the stored
// item in ristretto's sharded map (the hashes, the value struct with its
// string headers, the expiry; 112 bytes), the admission policy's cost
// record and the expiry bucket's record, with the maps' slack. Measured as
// the heap's growth per added entry: 290 to 320 bytes with 30-byte keys
// and 8-byte logins.
const entryOverhead = 256

// cacheMetrics turns ristretto's metrics on; tests read the retained cost
// from them. Off in production: they add atomic counters to every Get.
var cacheMetrics = false

// Stats counts cache hits and misses since the client was made.
type Stats struct {
	Hits, Misses int64
}

// Client looks facts up and caches them. It is safe for concurrent use.
type Client struct {
	baseURL string
	base    *url.URL
	token   string
	app     *appAuth
	cfg     Config
	http    *http.Client
	res     *ristretto.Cache[uint64, resourceEntry]
	owners  *ristretto.Cache[uint64, ownerEntry]
	seed    maphash.Seed
	flight  singleflight.Group
	// minCost is what the smallest entry is charged, MaxBytes/MaxEntries,
	// so that the byte budget also bounds the count.
	minCost int64

	// gen counts invalidations. A lookup stores its answer only if no
	// invalidation came while it was in flight, and the flight key carries
	// it, so that a caller arriving after an invalidation asks the host
	// again instead of waiting for an answer that may be stale. storeMu
	// orders that check-and-store against the bump (read-locked by
	// stores, locked by Invalidate): a store either lands before the bump,
	// and the invalidation's deletions come after it, or sees the bump.
	gen     atomic.Uint64
	storeMu sync.RWMutex

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

// refuseRedirects hands every redirect back to the caller unfollowed:
// net/http would re-send the Authorization header to another port of the
// same host, and take another host's answer for the lookup's.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
		cfg.MaxEntries = defaultMaxEntries
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = defaultMaxBytes
	}
	// A copy, so that the caller's client keeps its own redirect policy.
	hc := &http.Client{Timeout: cfg.Timeout}
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient
		hc = &cp
	}
	hc.CheckRedirect = refuseRedirects
	c := &Client{baseURL: u.String(), base: u, token: cfg.Token, cfg: cfg, http: hc, minCost: max(cfg.MaxBytes/cfg.MaxEntries, 1)}
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
	// Costs are bytes and include the entry's overhead, so ristretto's own
	// fixed per-item estimate is not added on top.
	c.res, err = ristretto.NewCache(&ristretto.Config[uint64, resourceEntry]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxBytes, BufferItems: 64,
		IgnoreInternalCost: true, Metrics: cacheMetrics,
	})
	if err != nil {
		return nil, fmt.Errorf("resource cache: %w", err)
	}
	c.owners, err = ristretto.NewCache(&ristretto.Config[uint64, ownerEntry]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxBytes, BufferItems: 64,
		IgnoreInternalCost: true, Metrics: cacheMetrics,
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

// cost is what an entry holding n bytes of strings is charged.
func (c *Client) cost(n int) int64 {
	return max(int64(n)+entryOverhead, c.minCost)
}

// Resource returns the owner and visibility of a target, and whether the
// answer came from the cache. Targets that need no lookup return the zero
// Resource.
//
// A Known resource either names its owner (OwnerLogin not empty and
// OwnerType not OwnerUnknown) or names none (OwnerLogin "" and OwnerType
// OwnerUnknown: the host has no such repository, account or team, or the
// service credential cannot see it). Never one without the other: an owner
// is never taken to be "", and the caller must treat a Known resource
// without owner as undetermined.
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
	// Taken after the miss: any invalidation from here on makes this
	// lookup's answer unfit for the cache.
	gen := c.gen.Load()
	skey := string(key)
	v, err, _ := c.flight.Do(skey+"@"+strconv.FormatUint(gen, 10), func() (any, error) {
		// One caller's cancellation must not fail the others waiting on
		// the same flight; the timeout still bounds it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		start := time.Now()
		r, err := c.fetchResource(fctx, t)
		if err == nil && !ownerConsistent(r) {
			// Every path below keeps the invariant; this guards the
			// decision against a future one that does not.
			err = fmt.Errorf("%w: %s: owner login and type disagree", ErrUnavailable, kind)
		}
		c.observe(kind, start, err)
		if err != nil {
			return target.Resource{}, err
		}
		ttl := c.cfg.TTL
		if r.OwnerType == target.OwnerUnknown || r.Visibility == target.VisibilityUnknown && t.Scope == target.Repository {
			ttl = c.cfg.NegativeTTL
		}
		e := resourceEntry{key: skey, res: r}
		c.storeMu.RLock()
		stored := c.gen.Load() == gen && c.res.SetWithTTL(h, e, c.cost(len(e.key)+len(r.OwnerLogin)+len(r.AlsoOwner)), ttl)
		c.storeMu.RUnlock()
		if stored {
			// Make the entry visible before the flight ends, so callers
			// that arrive just after it hit the cache instead of calling
			// again.
			c.res.Wait()
		}
		// An answer begun before an invalidation still goes to the callers
		// that asked before it: it was true when they asked.
		return r, nil
	})
	if err != nil {
		return target.Resource{}, false, err
	}
	return v.(target.Resource), false, nil
}

// ownerConsistent reports whether a resource names its owner completely or
// not at all.
func ownerConsistent(r target.Resource) bool {
	return !r.Known || (r.OwnerLogin == "") == (r.OwnerType == target.OwnerUnknown)
}

// owned is a resource whose owner the host named. An answer without login
// or type fails the lookup, rather than give the decision half an owner.
func owned(path, login string, t target.OwnerType, vis target.Visibility) (target.Resource, error) {
	if login == "" || t == target.OwnerUnknown {
		return target.Resource{}, fmt.Errorf("%w: GET %s: answer has no owner login and type", ErrUnavailable, path)
	}
	return target.Resource{Known: true, OwnerLogin: login, OwnerType: t, Visibility: vis}, nil
}

// unowned is a resource whose owner the host does not know or will not
// show: known, without owner, so that the decision treats it as
// undetermined.
func unowned(vis target.Visibility) target.Resource {
	return target.Resource{Known: true, OwnerType: target.OwnerUnknown, Visibility: vis}
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

// ownerEntry is a cached answer about a token, with the fingerprint it
// answers.
type ownerEntry struct {
	fp    tokenclass.Fingerprint
	facts TokenFacts
}

// TokenFacts is what the host says about a token when asked with it
// (GET /user): its owner, and its expiry (SPEC §8).
type TokenFacts struct {
	// Owner is the lowercase login; "" for a token the host does not
	// accept.
	Owner string
	// ExpiresAt (Unix seconds) is the GitHub-Authentication-Token-Expiration
	// header's time; NeverExpires is set when the header is absent.
	ExpiresAt    int64
	NeverExpires bool
}

// ExpirationHeader is where GitHub says when the token that authenticated
// a request expires: "2026-03-01 12:00:00 UTC". No header: it never does.
const ExpirationHeader = "GitHub-Authentication-Token-Expiration"

// parseExpiration reads the header's time; GitHub writes UTC, and some
// versions a numeric zone.
func parseExpiration(v string) (int64, error) {
	for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("%w: GET /user: a %s header that is no time", ErrUnavailable, ExpirationHeader)
}

// TokenOwner returns the lowercase login of a token's owner (see
// TokenFacts).
func (c *Client) TokenOwner(ctx context.Context, token string, fp tokenclass.Fingerprint) (string, bool, error) {
	f, hit, err := c.TokenFacts(ctx, token, fp)
	return f.Owner, hit, err
}

// TokenFacts returns what the host says about a token by asking it who
// the token is (GET /user with the token itself): one question tells the
// owner and the expiry. A token the host does not accept has no owner and
// no expiry: the zero facts and no error. Answers are cached by
// fingerprint, never by token. The token is sent to the base URL's origin
// only: a redirect fails the lookup with ErrRefused.
func (c *Client) TokenFacts(ctx context.Context, token string, fp tokenclass.Fingerprint) (TokenFacts, bool, error) {
	// A fingerprint is already a uniform hash; the entry keeps all of it.
	h := binary.LittleEndian.Uint64(fp[:8])
	if e, ok := c.owners.Get(h); ok && e.fp == fp {
		c.hits.Add(1)
		return e.facts, true, nil
	}
	c.misses.Add(1)
	v, err, _ := c.flight.Do("token/"+string(fp[:]), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		var u struct {
			Login string `json:"login"`
		}
		var hdr http.Header
		start := time.Now()
		status, err := c.getHeader(fctx, "/user", "token "+token, false, &u, &hdr)
		if err == nil {
			switch status {
			case http.StatusOK, http.StatusUnauthorized, http.StatusForbidden:
			default:
				// A 404 here is a base URL that is no API: an outage.
				err = answerError("/user", status)
			}
		}
		var f TokenFacts
		if err == nil && status == http.StatusOK {
			f.Owner = strings.ToLower(u.Login)
			if exp := hdr.Get(ExpirationHeader); exp == "" {
				f.NeverExpires = true
			} else {
				f.ExpiresAt, err = parseExpiration(exp)
			}
		}
		c.observe("token_owner", start, err)
		if err != nil {
			return TokenFacts{}, err
		}
		ttl := c.cfg.TTL
		if status != http.StatusOK {
			ttl = c.cfg.NegativeTTL
		}
		c.owners.SetWithTTL(h, ownerEntry{fp: fp, facts: f}, c.cost(len(fp)+len(f.Owner)+16), ttl)
		c.owners.Wait()
		return f, nil
	})
	if err != nil {
		return TokenFacts{}, false, err
	}
	return v.(TokenFacts), false, nil
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

// repository looks a repository up, following the 301 the host sends for a
// renamed or transferred repository, so the owner is the current one. A
// repository that does not exist counts as a private resource of the
// account named in the path, whose type a second lookup tells.
func (c *Client) repository(ctx context.Context, path, pathOwner string) (target.Resource, error) {
	var r repoJSON
	status, err := c.getService(ctx, path, true, &r)
	if err != nil {
		return target.Resource{}, err
	}
	switch status {
	case http.StatusOK:
		vis := target.ParseVisibility(r.Visibility)
		if r.Visibility == "" && r.Private != nil {
			// Hosts that predate the visibility field.
			vis = target.VisibilityPrivate
			if !*r.Private {
				vis = target.VisibilityPublic
			}
		}
		return owned(path, r.Owner.Login, ownerType(r.Owner.Type), vis)
	case http.StatusNotFound, http.StatusGone:
		if pathOwner == "" {
			// A repository id the host does not show: whose it is cannot
			// be learnt.
			return unowned(target.VisibilityUnknown), nil
		}
		acc, err := c.account(ctx, "/users/"+url.PathEscape(pathOwner))
		if err != nil {
			return target.Resource{}, err
		}
		acc.Visibility = target.VisibilityPrivate
		return acc, nil
	}
	return target.Resource{}, answerError(path, status)
}

// account looks up a user or organization (/users/{login},
// /organizations/{id}). Its profile is public.
func (c *Client) account(ctx context.Context, path string) (target.Resource, error) {
	var a struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	}
	status, err := c.getService(ctx, path, false, &a)
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
		return owned(path, a.Login, t, target.VisibilityPublic)
	case http.StatusNotFound, http.StatusGone:
		return unowned(target.VisibilityUnknown), nil
	}
	return target.Resource{}, answerError(path, status)
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
	status, err := c.getService(ctx, path, false, &tm)
	if err != nil {
		return target.Resource{}, err
	}
	switch status {
	case http.StatusOK:
		return owned(path, tm.Organization.Login, target.OwnerOrganization, target.VisibilityUnknown)
	case http.StatusNotFound, http.StatusGone:
		return unowned(target.VisibilityUnknown), nil
	}
	return target.Resource{}, answerError(path, status)
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

// answerError classifies an answer its caller cannot use (SPEC §4):
// failures that come from the host, the service credential or rate limits
// are outages; the rest of the 4xx are the request's own doing.
func answerError(path string, status int) error {
	class := ErrUnavailable
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusProxyAuthRequired, status == http.StatusRequestTimeout,
		status == http.StatusTooManyRequests, status == http.StatusNotFound, status == http.StatusGone:
		// 404 and 410 reach here only where they cannot mean "no such
		// resource" (GET /user): the base URL is wrong, an outage.
	case status >= 400 && status < 500:
		class = ErrRefused
	}
	return fmt.Errorf("%w: GET %s: status %d", class, path, status)
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
func (c *Client) getService(ctx context.Context, path string, follow bool, v any) (int, error) {
	auth, err := c.serviceAuth(ctx)
	if err != nil {
		return 0, err
	}
	return c.get(ctx, path, auth, follow, v)
}

// get fetches path under the base URL and decodes a 200 answer into v. It
// returns the status of any other answer but a redirect; errors are
// transport failures, unreadable 200s and redirects. With follow, the one
// sanctioned redirect (a 301 to {base}/repositories/{id}) is followed once;
// every other redirect, and any redirect without follow, fails with
// ErrRefused without being followed.
func (c *Client) get(ctx context.Context, path, auth string, follow bool, v any) (int, error) {
	return c.getHeader(ctx, path, auth, follow, v, nil)
}

// getHeader is get that also keeps the answer's header in hdr.
func (c *Client) getHeader(ctx context.Context, path, auth string, follow bool, v any, hdr *http.Header) (int, error) {
	// path is already escaped segment by segment.
	resp, err := c.do(ctx, path, auth)
	if err != nil {
		return 0, err
	}
	if isRedirect(resp.StatusCode) {
		id, ok := c.sanctionedRedirect(resp)
		drain(resp)
		if !follow || !ok {
			return 0, fmt.Errorf("%w: GET %s: redirect (status %d) not followed: only a 301 to %s/repositories/{id} is", ErrRefused, path, resp.StatusCode, c.base.Path)
		}
		// The URL is rebuilt from the base and the id, not taken from the
		// Location header: what is asked is exactly what was checked.
		path = "/repositories/" + strconv.FormatInt(id, 10)
		if resp, err = c.do(ctx, path, auth); err != nil {
			return 0, err
		}
		if isRedirect(resp.StatusCode) {
			drain(resp)
			return 0, fmt.Errorf("%w: GET %s: a second redirect (status %d) not followed", ErrRefused, path, resp.StatusCode)
		}
	}
	defer drain(resp)
	if hdr != nil {
		*hdr = resp.Header
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return 0, fmt.Errorf("%w: GET %s: %w", ErrUnavailable, path, err)
	}
	return resp.StatusCode, nil
}

// do sends one GET under the base URL; the client never follows redirects.
func (c *Client) do(ctx context.Context, path, auth string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "patgate")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The error text holds the URL, never the Authorization header.
		return nil, fmt.Errorf("%w: GET %s: %w", ErrUnavailable, path, err)
	}
	return resp, nil
}

// drain reads a little of an answer's body and closes it, so that the
// connection can serve the next lookup.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

func isRedirect(status int) bool { return status >= 300 && status < 400 }

// sanctionedRedirect reports whether an answer is the redirect SPEC §4
// allows, a 301 to {base}/repositories/{id} on the base URL's scheme, host
// and port, and returns the id.
func (c *Client) sanctionedRedirect(resp *http.Response) (int64, bool) {
	if resp.StatusCode != http.StatusMovedPermanently {
		return 0, false
	}
	loc, err := resp.Location()
	if err != nil || !sameOrigin(loc, c.base) || loc.User != nil || loc.RawQuery != "" || loc.ForceQuery || loc.Fragment != "" || loc.RawPath != "" {
		return 0, false
	}
	rest, ok := strings.CutPrefix(loc.Path, c.base.Path+"/repositories/")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	// The round trip rules out signs, leading zeros and further segments.
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return 0, false
	}
	return id, true
}

// sameOrigin compares scheme, host and port, with the scheme's default
// port spelt out or not.
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}
