// Package caddymodule is the Caddy glue of patgate: the http.handlers.pat_policy
// module, its Caddyfile directive, and the mapping of decisions onto HTTP.
// Everything it decides comes from the plain-Go packages: request →
// credential (tokenclass) → target (target) → facts (lookup) → decision
// (enforce) → answer.
package caddymodule

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/patgate/patgate/gate"
	"github.com/patgate/patgate/lookup"
	"github.com/patgate/patgate/policyfeed"
	"github.com/patgate/patgate/target"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// activeHandlers lists the provisioned handlers, for the admin API.
var activeHandlers sync.Map // *Handler → struct{}

// Modes.
const (
	ModeEnforce = "enforce"
	ModeReport  = "report"
)

// Handler enforces an enterprise's personal-access-token policies on the
// requests that pass through it, in front of a GitHub Enterprise Server (or
// any host with the same REST, GraphQL and Git-over-HTTPS interfaces).
type Handler struct {
	// Feed is the policy feed: a file path (re-read when it changes) or an
	// HTTP(S) URL (polled with If-None-Match).
	Feed string `json:"feed,omitempty"`
	// FeedKey is a PEM public key (P-256, Ed25519 or RSA): when set, the
	// feed must be a JWS signed with the matching private key.
	FeedKey string `json:"feed_key,omitempty"`
	// FeedRefresh is how often the feed source is checked. Default 1s for
	// a file, 30s for a URL.
	FeedRefresh caddy.Duration `json:"feed_refresh,omitempty"`
	// FeedTimeout bounds one fetch of a URL feed. Default 60s.
	FeedTimeout caddy.Duration `json:"feed_timeout,omitempty"`
	// FeedCache is where the last accepted feed is kept for restarts;
	// default under Caddy's data directory, "off" to keep none.
	FeedCache string `json:"feed_cache,omitempty"`
	// FeedCA is a PEM file of the roots that sign the feed server's
	// certificate; default the system's.
	FeedCA string `json:"feed_ca,omitempty"`
	// FeedClientCert and FeedClientKey are a client certificate for a feed
	// server that requires mutual TLS.
	FeedClientCert string `json:"feed_client_cert,omitempty"`
	FeedClientKey  string `json:"feed_client_key,omitempty"`
	// FeedMaxSize bounds the feed in bytes, fetched or cached: a larger
	// one is refused, before it is read when its size is announced.
	// Default 256 MiB: real feeds are a few megabytes, and a signed feed
	// of a million tokens is 243 MiB.
	FeedMaxSize int64 `json:"feed_max_size,omitempty"`

	// Lookup is the host's REST API root, asked who owns a resource and
	// whether it is public, e.g. https://ghes.internal/api/v3.
	Lookup string `json:"lookup,omitempty"`
	// LookupToken is the service credential for lookups. Placeholders such
	// as {env.PATGATE_LOOKUP_TOKEN} are expanded at provision time.
	LookupToken string `json:"lookup_token,omitempty"`
	// LookupApp authenticates lookups as a GitHub App installation instead
	// of with LookupToken: the installation token is obtained with an app
	// JWT and refreshed before it expires.
	LookupApp *LookupApp `json:"lookup_app,omitempty"`
	// LookupTimeout bounds one lookup. Default 5s.
	LookupTimeout caddy.Duration `json:"lookup_timeout,omitempty"`
	// CacheTTL is how long lookup answers are kept. Default 2m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// CacheSize bounds the number of cached lookup answers. Default 100000.
	CacheSize int64 `json:"cache_size,omitempty"`
	// CacheBytes bounds the memory of each lookup cache (resources, token
	// owners), every answer counted at its size. Default 64 MiB.
	CacheBytes int64 `json:"cache_bytes,omitempty"`
	// FailOpen forwards requests whose lookup failed instead of answering
	// 503. Off by default: a gateway that cannot tell must not let through.
	FailOpen bool `json:"fail_open,omitempty"`

	// InboxSize bounds the approval inbox's entries per organization
	// (default 100), InboxOrganizations its organizations (default
	// 10,000). InboxRedis shares the inbox among gateways through Redis
	// (default: the pat_policy_webhook receiver's Redis when the process
	// has exactly one; else this process's memory); InboxTTL is how long a
	// Redis entry outlives its last refusal (default 30 days).
	InboxSize          int            `json:"inbox_size,omitempty"`
	InboxOrganizations int            `json:"inbox_organizations,omitempty"`
	InboxRedis         string         `json:"inbox_redis,omitempty"`
	InboxTTL           caddy.Duration `json:"inbox_ttl,omitempty"`

	// LFSBatchLimit bounds the Git LFS batch request body the gateway
	// reads to learn its operation; larger bodies get 413. Default 1 MiB,
	// about 10,000 objects: git-lfs sends 100 a batch.
	LFSBatchLimit int64 `json:"lfs_batch_limit,omitempty"`

	// APIPrefix is where the REST API lives. Default "/api/v3" (GitHub
	// Enterprise Server); "" for an api.github.com-style host.
	APIPrefix *string `json:"api_prefix,omitempty"`
	// Mode is "enforce" (default) or "report": report denies nothing and
	// logs what it would have denied.
	Mode string `json:"mode,omitempty"`
	// ReportOrganizations run in report mode while the rest is enforced:
	// refusals under their policies are logged and counted as would_deny
	// and forwarded. The feed can also put an organization in report mode.
	ReportOrganizations []string `json:"report_organizations,omitempty"`
	// LogAllowed writes allowed decisions at info level instead of debug.
	LogAllowed bool `json:"log_allowed,omitempty"`

	logger *zap.Logger
	// gate decides requests: ServeHTTP and explain both go through it.
	gate     *gate.Gate
	resolver *target.Resolver
	lookups  *lookup.Client
	store    *policyfeed.Store
	feedKey  string // this handler's entry in the feeds pool
	// lookupKey is this handler's entry in the lookup clients pool.
	lookupKey string
	inbox     *inboxFor
	feed      *feedState
	report    bool
}

// LookupApp is a GitHub App installation used for lookups.
type LookupApp struct {
	// AppID is the GitHub App's id.
	AppID int64 `json:"app_id"`
	// InstallationID is the id of the app's installation whose token
	// looks resources up; it needs read access to every organization's
	// repository metadata.
	InstallationID int64 `json:"installation_id"`
	// PrivateKeyFile is the app's private key (PEM), as GitHub issues it.
	PrivateKeyFile string `json:"private_key_file"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.pat_policy",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets the handler up: the route resolver, the lookup client and
// the shared feed, which runs until no handler uses it.
func (h *Handler) Provision(ctx caddy.Context) error {
	if err := initMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := h.prepare(ctx.Logger()); err != nil {
		return err
	}
	h.inbox = new(inboxFor)
	activeHandlers.Store(h, struct{}{})
	return nil
}

// prepare builds everything the handler decides with. It is Provision
// without Caddy's context, so that `caddy pat-policy explain` can build a
// handler from a config file without running a server.
func (h *Handler) prepare(logger *zap.Logger) error {
	h.logger = logger
	prefix := "/api/v3"
	if h.APIPrefix != nil {
		prefix = *h.APIPrefix
	}
	var err error
	if h.resolver, err = target.NewResolver(prefix); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	if h.lookups, h.lookupKey, err = h.startLookups(repl); err != nil {
		return err
	}
	h.report = h.Mode == ModeReport
	settings, keyPEM, err := h.feedSettings(repl)
	if err != nil {
		return err
	}
	h.warnWeakSettings(repl)
	feed, key, err := startFeed(settings, keyPEM, h.logger.Named("feed"))
	if err != nil {
		return err
	}
	h.feed, h.store, h.feedKey = feed, feed.store, key
	reportOrgs := make(map[string]bool, len(h.ReportOrganizations))
	for _, o := range h.ReportOrganizations {
		reportOrgs[strings.ToLower(o)] = true
	}
	h.gate = &gate.Gate{
		Resolver: h.resolver, Facts: h.lookups, Policy: h.store.Load,
		Report: h.report, ReportOrgs: reportOrgs, FailOpen: h.FailOpen,
		GraphQLLimit: graphqlLimit, LFSBatchLimit: h.lfsBatchLimit(),
		ObserveCache: countCache, ClientAddr: clientAddr,
	}
	h.gate.Answers = h.gate.Lists
	return nil
}

// warnWeakSettings logs, at WARN and once per loaded config, every setting
// that weakens enforcement, so that none of them goes unnoticed in a
// deployment's logs (SPEC §7).
func (h *Handler) warnWeakSettings(repl *caddy.Replacer) {
	if h.report {
		h.logger.Warn("mode report: nothing is refused; refusals are only logged and counted")
	}
	if h.FailOpen {
		h.logger.Warn("fail_open: requests whose lookup fails because the host is unreachable or answers 5xx are forwarded unchecked")
	}
	if len(h.ReportOrganizations) > 0 {
		h.logger.Warn("report_organizations: these organizations' refusals are only logged and counted",
			zap.Strings("organizations", h.ReportOrganizations))
	}
	if h.LookupApp == nil && repl.ReplaceAll(h.LookupToken, "") == "" {
		h.logger.Warn("lookup_token is empty: lookups are anonymous, so private repositories look missing and ids of private resources stay undetermined")
	}
}

// expandSecret expands the placeholders of a secret or key setting. One
// that expands to nothing is a configuration error (SPEC §7): an unset
// environment variable must never become the empty key, with which anyone
// can sign. The error names the setting, never its value.
func expandSecret(repl *caddy.Replacer, name, raw string) (string, error) {
	v := repl.ReplaceAll(raw, "")
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s expands to nothing (is its environment variable set?): a secret or key must not be empty", name)
	}
	return v, nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	switch h.Mode {
	case "", ModeEnforce, ModeReport:
	default:
		return fmt.Errorf("mode %q: want enforce or report", h.Mode)
	}
	if h.Feed == "" {
		return fmt.Errorf("feed is required")
	}
	if (h.FeedClientCert == "") != (h.FeedClientKey == "") {
		return fmt.Errorf("feed_client_cert needs both a certificate and a key file")
	}
	if h.Lookup == "" {
		return fmt.Errorf("lookup is required")
	}
	if h.LookupApp != nil {
		if h.LookupToken != "" {
			return fmt.Errorf("lookup_token and lookup_app are both set; choose one")
		}
		if h.LookupApp.AppID <= 0 || h.LookupApp.InstallationID <= 0 || h.LookupApp.PrivateKeyFile == "" {
			return fmt.Errorf("lookup_app needs an app id, an installation id and a private key file")
		}
	}
	return nil
}

// graphqlLimit bounds the GraphQL request body the gateway reads: 1 MiB,
// far above what gh, Octokit or any UI sends.
const graphqlLimit = 1 << 20

func (h *Handler) lfsBatchLimit() int64 {
	if h.LFSBatchLimit > 0 {
		return h.LFSBatchLimit
	}
	return 1 << 20
}

// Cleanup releases the handler's hold on its feed (stopped when no handler
// uses it any more) and the lookup caches.
func (h *Handler) Cleanup() error {
	activeHandlers.Delete(h)
	h.releaseInbox()
	if h.feedKey != "" {
		if _, err := feeds.Delete(h.feedKey); err != nil {
			h.logger.Error("stopping the policy feed", zap.Error(err))
		}
	}
	if h.lookupKey != "" {
		if _, err := lookupClients.Delete(h.lookupKey); err != nil {
			h.logger.Error("releasing the lookup cache", zap.Error(err))
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// clientAddr is the client's address as Caddy determined it for this
// request: the connection's peer, or the forwarded address when the
// server's trusted_proxies names the peer (SPEC §9). An X-Forwarded-For
// from an untrusted peer never gets here.
func clientAddr(r *http.Request) netip.Addr {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if ip == "" {
		// Outside a Caddy server (tests): the connection's peer.
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr()
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("")
}
