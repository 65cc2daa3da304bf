package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/patgate/patgate/lookup"
	"github.com/patgate/patgate/webhook"
)

func init() {
	caddy.RegisterModule(Webhook{})
	httpcaddyfile.RegisterHandlerDirective("pat_policy_webhook", parseWebhookCaddyfile)
	// The receiver must answer before the proxy sees the request. Its
	// place next to pat_policy does not matter: deliveries carry no PAT,
	// so pat_policy passes them untouched, and the receiver only answers
	// the path it is matched on.
	httpcaddyfile.RegisterDirectiveOrder("pat_policy_webhook", httpcaddyfile.Before, "reverse_proxy")
}

// maxWebhookBody bounds a delivery's payload, which is read before its
// signature can be checked. Repository and organization events, the ones
// that invalidate, are a few kilobytes; larger deliveries (a huge push) are
// refused with 413, which costs nothing since they change no lookup.
const maxWebhookBody = 5 << 20

// Webhook receives the Git host's webhook deliveries and drops the cached
// lookup answers they make stale (a repository made private, renamed or
// transferred; an organization renamed or deleted), in every pat_policy
// handler of the process, and, through Redis, of every gateway. It is a
// handler of its own, to be routed to with a path matcher:
//
//	pat_policy_webhook /_patgate/webhook {
//		secret {env.PATGATE_WEBHOOK_SECRET}
//		redis  redis://redis.internal:6379/0 [<channel>]
//	}
//
// It answers every request routed to it and never calls the next handler.
type Webhook struct {
	// Secret is the webhooks' shared secret (X-Hub-Signature-256).
	// Required; placeholders such as {env.PATGATE_WEBHOOK_SECRET} are
	// expanded at provision, and one that expands to nothing is an error.
	Secret string `json:"secret,omitempty"`
	// Redis, when set, is a Redis URL (redis://host:port/db) through which
	// invalidations reach every gateway: the host delivers each webhook to
	// one of them. Every gateway with this setting subscribes once per
	// process, however many handlers or reloads.
	Redis string `json:"redis,omitempty"`
	// Channel is the Redis channel; default patgate:invalidate.
	Channel string `json:"channel,omitempty"`

	logger *zap.Logger
	secret []byte
	bus    *invalidationBus
	busKey string
	// redisURL is the expanded Redis URL, which the approval inbox may
	// share.
	redisURL string
}

// CaddyModule returns the Caddy module information.
func (Webhook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.pat_policy_webhook",
		New: func() caddy.Module { return new(Webhook) },
	}
}

func parseWebhookCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Webhook)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the receiver from Caddyfile tokens. Syntax:
//
//	pat_policy_webhook [<matcher>] {
//		secret <secret>
//		redis  <redis://host:port/db> [<channel>]
//	}
func (wh *Webhook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return subdirectives(d, func(name string, args []string) error {
		switch name {
		case "secret":
			if len(args) != 1 {
				return d.ArgErr()
			}
			wh.Secret = args[0]
		case "redis":
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			wh.Redis = args[0]
			if len(args) == 2 {
				wh.Channel = args[1]
			}
		default:
			return d.Errf("unknown subdirective %q", name)
		}
		return nil
	})
}

// Provision expands the secret and joins the process's Redis subscription.
func (wh *Webhook) Provision(ctx caddy.Context) error {
	wh.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	secret, err := expandSecret(repl, "secret", wh.Secret)
	if err != nil {
		return err
	}
	wh.secret = []byte(secret)
	if wh.Redis == "" {
		return nil
	}
	wh.redisURL = repl.ReplaceAll(wh.Redis, "")
	wh.bus, wh.busKey, err = joinBus(wh.redisURL, wh.Channel, wh.logger)
	if err == nil {
		noteWebhookRedis(wh.redisURL, 1)
	}
	return err
}

// Validate checks the configuration before placeholders are expanded.
func (wh *Webhook) Validate() error {
	if wh.Secret == "" {
		return errors.New("pat_policy_webhook needs a secret")
	}
	return nil
}

// Cleanup leaves the Redis subscription, which ends when no receiver of
// the process uses it.
func (wh *Webhook) Cleanup() error {
	if wh.redisURL != "" {
		noteWebhookRedis(wh.redisURL, -1)
	}
	if wh.busKey != "" {
		if _, err := buses.Delete(wh.busKey); err != nil {
			return err
		}
	}
	return nil
}

// ServeHTTP receives one delivery: it verifies the signature (HMAC-SHA256
// with the secret, in constant time), refuses replayed deliveries, drops
// the cached answers the event makes stale, and tells the other gateways.
func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	fail := func(status int, err error) error {
		delivery := r.Header.Get("X-GitHub-Delivery")
		if len(delivery) > webhook.MaxDeliveryID {
			delivery = delivery[:webhook.MaxDeliveryID] + "…(truncated)"
		}
		wh.logger.Warn("webhook delivery refused", zap.Int("status", status),
			zap.String("delivery", delivery), zap.Error(err))
		http.Error(w, "patgate: "+err.Error(), status)
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, errors.New("webhook deliveries are POSTed"))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return fail(http.StatusBadRequest, err)
	}
	if len(body) > maxWebhookBody {
		return fail(http.StatusRequestEntityTooLarge, errors.New("webhook payload too large"))
	}
	if err := webhook.Verify(wh.secret, body, r.Header.Get("X-Hub-Signature-256")); err != nil {
		return fail(http.StatusUnauthorized, err)
	}
	delivery := r.Header.Get("X-GitHub-Delivery")
	if delivery == "" {
		return fail(http.StatusBadRequest, errors.New("webhook delivery without X-GitHub-Delivery"))
	}
	if len(delivery) > webhook.MaxDeliveryID {
		return fail(http.StatusBadRequest, errors.New("webhook delivery id longer than a GUID"))
	}
	if !deliveries.Fresh(delivery, time.Now()) {
		return fail(http.StatusConflict, webhook.ErrReplayed)
	}
	event := r.Header.Get("X-GitHub-Event")
	inv, err := webhook.Invalidation(event, body)
	if err != nil {
		return fail(http.StatusBadRequest, err)
	}
	if !inv.Empty() {
		invalidateAll(inv)
		if wh.bus != nil {
			wh.bus.publish(r.Context(), inv, wh.logger)
		}
	}
	wh.logger.Info("webhook delivery", zap.String("event", event), zap.String("delivery", delivery),
		zap.Any("invalidation", inv))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deliveries remembers webhook delivery ids for the whole process, so
// that a delivery replayed after a config reload is still refused.
var deliveries = new(webhook.Deliveries)

// invalidateAll drops the named answers from every lookup client of the
// process: a delivery is about the host, and every handler's cache may
// hold the stale answer.
func invalidateAll(inv lookup.Invalidation) {
	lookupClients.Range(func(_, v any) bool {
		if c, ok := v.(sharedLookup); ok {
			c.Invalidate(inv)
		}
		return true
	})
}

// buses holds the process's Redis subscriptions, one per URL and channel.
var buses = caddy.NewUsagePool()

// invalidationBus spreads cache invalidations to every gateway through
// Redis pub/sub, and applies the ones it hears to this process's caches.
type invalidationBus struct {
	client  *redis.Client
	channel string
	cancel  context.CancelFunc
	done    chan struct{}
}

// Destruct ends the subscription when no receiver uses it.
func (b *invalidationBus) Destruct() error {
	b.cancel()
	<-b.done
	return b.client.Close()
}

func (b *invalidationBus) publish(ctx context.Context, inv lookup.Invalidation, log *zap.Logger) {
	msg, _ := json.Marshal(inv)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := b.client.Publish(ctx, b.channel, msg).Err(); err != nil {
		log.Error("cache invalidation not sent to the other gateways", zap.Error(err))
	}
}

// joinBus returns the process's subscription to url and channel, starting
// it if no receiver has it yet.
func joinBus(url, channel string, log *zap.Logger) (*invalidationBus, string, error) {
	if channel == "" {
		channel = "patgate:invalidate"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, "", fmt.Errorf("redis: %w", err)
	}
	// The key names the server and channel, never a password in the URL.
	key := fmt.Sprintf("%s/%d %s", opts.Addr, opts.DB, channel)
	v, _, err := buses.LoadOrNew(key, func() (caddy.Destructor, error) {
		return startBus(opts, channel, log), nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*invalidationBus), key, nil
}

// startBus subscribes, waiting briefly for the subscription so that an
// invalidation published right after start is not missed; a Redis that is
// down is logged and retried by the client.
func startBus(opts *redis.Options, channel string, log *zap.Logger) *invalidationBus {
	b := &invalidationBus{client: redis.NewClient(opts), channel: channel, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	sub := b.client.Subscribe(ctx, channel)
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := sub.Receive(wctx); err != nil {
		log.Error("cache invalidation: cannot subscribe yet; retrying", zap.String("channel", channel), zap.Error(err))
	}
	wcancel()
	go func() {
		defer close(b.done)
		defer sub.Close()
		defer func() {
			if r := recover(); r != nil {
				log.Error("cache invalidation subscriber panicked", zap.Any("panic", r), zap.Stack("stack"))
			}
		}()
		ch := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				var v lookup.Invalidation
				if err := json.Unmarshal([]byte(msg.Payload), &v); err != nil {
					log.Warn("cache invalidation: unreadable message", zap.Error(err))
					continue
				}
				invalidateAll(v)
				log.Debug("cache invalidated by a gateway", zap.Any("invalidation", v))
			}
		}
	}()
	return b
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Webhook)(nil)
	_ caddy.Validator             = (*Webhook)(nil)
	_ caddy.CleanerUpper          = (*Webhook)(nil)
	_ caddyhttp.MiddlewareHandler = (*Webhook)(nil)
	_ caddyfile.Unmarshaler       = (*Webhook)(nil)
	_ caddy.Destructor            = (*invalidationBus)(nil)
)
