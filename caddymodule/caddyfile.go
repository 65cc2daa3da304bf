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
//		lookup           <url>
//		lookup_token     <token>
//		lookup_app       <app_id> <installation_id> <private_key_file>
//		lookup_timeout   <duration>
//		cache_ttl        <duration>
//		cache_size       <entries>
//		cache_bytes      <size>
//		fail_open
//		lfs_batch_limit  <size>
//		api_prefix       <prefix>
//		mode             enforce|report
//		report_organizations <org> [<org>...]
//		log_allowed
//	}
//
// Each subdirective may be given once.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return subdirectives(d, func(name string, args []string) error {
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			*dst = args[0]
			return nil
		}
		none := func(dst *bool) error {
			if len(args) != 0 {
				return d.ArgErr()
			}
			*dst = true
			return nil
		}
		duration := func(dst *caddy.Duration) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return d.Errf("%s %q: want a positive duration", name, args[0])
			}
			*dst = caddy.Duration(dur)
			return nil
		}
		size := func(dst *int64, limit uint64, example string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(args[0])
			if err != nil || n == 0 || n > limit {
				return d.Errf("%s %q: want a size such as %s", name, args[0], example)
			}
			*dst = int64(n)
			return nil
		}
		var err error
		switch name {
		case "feed":
			err = one(&h.Feed)
		case "feed_key":
			err = one(&h.FeedKey)
		case "feed_cache":
			err = one(&h.FeedCache)
		case "feed_ca":
			err = one(&h.FeedCA)
		case "feed_client_cert":
			if len(args) != 2 {
				return d.ArgErr()
			}
			h.FeedClientCert, h.FeedClientKey = args[0], args[1]
		case "feed_refresh":
			err = duration(&h.FeedRefresh)
		case "feed_timeout":
			err = duration(&h.FeedTimeout)
		case "feed_max_size":
			err = size(&h.FeedMaxSize, 1<<62, "256MiB")
		case "lookup":
			err = one(&h.Lookup)
		case "lookup_token":
			err = one(&h.LookupToken)
		case "lookup_app":
			if len(args) != 3 {
				return d.ArgErr()
			}
			appID, err1 := strconv.ParseInt(args[0], 10, 64)
			instID, err2 := strconv.ParseInt(args[1], 10, 64)
			if err1 != nil || err2 != nil || appID <= 0 || instID <= 0 {
				return d.Errf("lookup_app %s %s: want a numeric app id and installation id", args[0], args[1])
			}
			h.LookupApp = &LookupApp{AppID: appID, InstallationID: instID, PrivateKeyFile: args[2]}
		case "lookup_timeout":
			err = duration(&h.LookupTimeout)
		case "cache_ttl":
			err = duration(&h.CacheTTL)
		case "cache_size":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, perr := strconv.ParseInt(args[0], 10, 64)
			if perr != nil || n <= 0 {
				return d.Errf("cache_size %q: want a positive number of entries", args[0])
			}
			h.CacheSize = n
		case "cache_bytes":
			err = size(&h.CacheBytes, 1<<40, "64MiB")
		case "fail_open":
			err = none(&h.FailOpen)
		case "lfs_batch_limit":
			err = size(&h.LFSBatchLimit, 1<<30, "1MiB (at most 1GiB)")
		case "api_prefix":
			var prefix string
			err = one(&prefix)
			h.APIPrefix = &prefix
		case "mode":
			if err = one(&h.Mode); err == nil && h.Mode != ModeEnforce && h.Mode != ModeReport {
				return d.Errf("mode %q: want enforce or report", h.Mode)
			}
		case "report_organizations":
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.ReportOrganizations = args
		case "log_allowed":
			err = none(&h.LogAllowed)
		case "inbox_size", "inbox_organizations":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, perr := strconv.Atoi(args[0])
			if perr != nil || n <= 0 || n > 1_000_000 {
				return d.Errf("%s %q: want a positive number (at most 1000000)", name, args[0])
			}
			if name == "inbox_size" {
				h.InboxSize = n
			} else {
				h.InboxOrganizations = n
			}
		case "inbox_redis":
			err = one(&h.InboxRedis)
		case "inbox_ttl":
			err = duration(&h.InboxTTL)
		case "webhook_path", "webhook_secret", "invalidation_redis":
			return d.Errf("%s: the webhook receiver is its own directive now, pat_policy_webhook (see docs/operations.md)", name)
		default:
			return d.Errf("unknown subdirective %q", name)
		}
		return err
	})
}

// subdirectives walks a directive's block (the directive takes no
// arguments of its own; a matcher is taken off before) and calls f with
// each subdirective and its arguments. A subdirective given twice is an
// error naming it: which one held would depend on the order.
func subdirectives(d *caddyfile.Dispenser, f func(name string, args []string) error) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("%s is given twice", name)
		}
		seen[name] = true
		if err := f(name, d.RemainingArgs()); err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
