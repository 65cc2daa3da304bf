package caddymodule

import (
	"strconv"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("pat_policy", parseCaddyfile)
	// The policy must run before the request is proxied.
	httpcaddyfile.RegisterDirectiveOrder("pat_policy", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	pat_policy {
//		feed             <file>|<https://url>
//		feed_key         <public_key.pem>
//		feed_refresh     <duration>
//		feed_timeout     <duration>
//		feed_cache       <file>|off
//		feed_ca          <ca.pem>
//		feed_client_cert <cert.pem> <key.pem>
//		feed_max_size    <size>
//		lookup         <url>
//		lookup_token   <token>
//		lookup_app     <app_id> <installation_id> <private_key_file>
//		lookup_timeout <duration>
//		cache_ttl      <duration>
//		cache_size     <entries>
//		fail_open
//		lfs_batch_limit <size>
//		api_prefix     <prefix>
//		mode           enforce|report
//		report_organizations <org> [<org>...]
//		log_allowed
//		webhook_path   <path>
//		webhook_secret <secret>
//		invalidation_redis <redis://host:port/db> [<channel>]
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if name == "lookup_app" {
			args := d.RemainingArgs()
			if len(args) != 3 {
				return d.ArgErr()
			}
			appID, err1 := strconv.ParseInt(args[0], 10, 64)
			instID, err2 := strconv.ParseInt(args[1], 10, 64)
			if err1 != nil || err2 != nil || appID <= 0 || instID <= 0 {
				return d.Errf("lookup_app %s %s: want a numeric app id and installation id", args[0], args[1])
			}
			h.LookupApp = &LookupApp{AppID: appID, InstallationID: instID, PrivateKeyFile: args[2]}
			continue
		}
		if name == "feed_client_cert" {
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			h.FeedClientCert, h.FeedClientKey = args[0], args[1]
			continue
		}
		if name == "report_organizations" {
			orgs := d.RemainingArgs()
			if len(orgs) == 0 {
				return d.ArgErr()
			}
			h.ReportOrganizations = append(h.ReportOrganizations, orgs...)
			continue
		}
		if name == "invalidation_redis" {
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			h.InvalidationRedis = args[0]
			if len(args) == 2 {
				h.InvalidationChannel = args[1]
			}
			continue
		}
		if name == "log_allowed" {
			if d.NextArg() {
				return d.ArgErr()
			}
			h.LogAllowed = true
			continue
		}
		if name == "fail_open" {
			if d.NextArg() {
				return d.ArgErr()
			}
			h.FailOpen = true
			continue
		}
		if !knownSubdirective[name] {
			return d.Errf("unknown subdirective %q", name)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch name {
		case "feed":
			h.Feed = val
		case "webhook_path":
			h.WebhookPath = val
		case "webhook_secret":
			h.WebhookSecret = val
		case "feed_key":
			h.FeedKey = val
		case "feed_cache":
			h.FeedCache = val
		case "feed_ca":
			h.FeedCA = val
		case "lookup":
			h.Lookup = val
		case "lookup_token":
			h.LookupToken = val
		case "api_prefix":
			h.APIPrefix = &val
		case "mode":
			if val != ModeEnforce && val != ModeReport {
				return d.Errf("mode %q: want enforce or report", val)
			}
			h.Mode = val
		case "feed_refresh", "feed_timeout", "lookup_timeout", "cache_ttl":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("%s %q: want a positive duration", name, val)
			}
			switch name {
			case "feed_refresh":
				h.FeedRefresh = caddy.Duration(dur)
			case "feed_timeout":
				h.FeedTimeout = caddy.Duration(dur)
			case "lookup_timeout":
				h.LookupTimeout = caddy.Duration(dur)
			case "cache_ttl":
				h.CacheTTL = caddy.Duration(dur)
			}
		case "feed_max_size":
			// Given twice, which one holds would depend on the order.
			if h.FeedMaxSize != 0 {
				return d.Errf("feed_max_size is given twice")
			}
			// (A size past MaxInt64 turns negative as an int64.)
			n, err := humanize.ParseBytes(val)
			if err != nil || int64(n) <= 0 {
				return d.Errf("feed_max_size %q: want a size such as 256MiB", val)
			}
			h.FeedMaxSize = int64(n)
		case "lfs_batch_limit":
			n, err := humanize.ParseBytes(val)
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("lfs_batch_limit %q: want a size such as 1MiB (at most 1GiB)", val)
			}
			h.LFSBatchLimit = int64(n)
		case "cache_size":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("cache_size %q: want a positive number of entries", val)
			}
			h.CacheSize = n
		}
	}
	return nil
}

// knownSubdirective lists the subdirectives that take one value.
var knownSubdirective = map[string]bool{
	"feed": true, "feed_key": true, "feed_cache": true, "feed_ca": true, "feed_timeout": true, "feed_refresh": true, "feed_max_size": true, "lookup": true, "lookup_token": true,
	"lookup_timeout": true, "cache_ttl": true, "cache_size": true,
	"api_prefix": true, "mode": true, "lfs_batch_limit": true,
	"webhook_path": true, "webhook_secret": true,
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
