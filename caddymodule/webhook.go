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
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/patgate/patgate/lookup"
	"github.com/patgate/patgate/webhook"
)

// maxWebhookBody bounds a delivery's payload, which is read before its
// signature can be checked. Repository and organization events, the ones
// that invalidate, are a few kilobytes; larger deliveries (a huge push) are
// refused with 413, which costs nothing since they change no lookup.
const maxWebhookBody = 5 << 20

// invalidator spreads cache invalidations to every gateway through Redis
// pub/sub: the host delivers each webhook to one gateway, and every gateway
// must drop the stale answers.
type invalidator struct {
	client  *redis.Client
	channel string
	cancel  context.CancelFunc
	done    chan struct{}
}

// startInvalidator subscribes the handler's lookup cache to the channel.
func (h *Handler) startInvalidator(repl *caddy.Replacer) error {
	if h.InvalidationRedis == "" {
		return nil
	}
	opts, err := redis.ParseURL(repl.ReplaceAll(h.InvalidationRedis, ""))
	if err != nil {
		return fmt.Errorf("invalidation_redis: %w", err)
	}
	inv := &invalidator{client: redis.NewClient(opts), channel: h.InvalidationChannel, done: make(chan struct{})}
	if inv.channel == "" {
		inv.channel = "patgate:invalidate"
	}
	ctx, cancel := context.WithCancel(context.Background())
	inv.cancel = cancel
	sub := inv.client.Subscribe(ctx, inv.channel)
	// Wait for the subscription so that an invalidation published right
	// after this handler starts is not missed; a Redis that is down is
	// logged and retried by the client.
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := sub.Receive(wctx); err != nil {
		h.logger.Error("cache invalidation: cannot subscribe yet; retrying", zap.String("channel", inv.channel), zap.Error(err))
	}
	wcancel()
	go func() {
		defer close(inv.done)
		defer sub.Close()
		defer func() {
			if r := recover(); r != nil {
				h.logger.Error("cache invalidation subscriber panicked", zap.Any("panic", r), zap.Stack("stack"))
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
					h.logger.Warn("cache invalidation: unreadable message", zap.Error(err))
					continue
				}
				h.lookups.Invalidate(v)
				h.logger.Debug("cache invalidated by another gateway", zap.Any("invalidation", v))
			}
		}
	}()
	h.invalidator = inv
	return nil
}

func (inv *invalidator) stop() {
	inv.cancel()
	<-inv.done
	_ = inv.client.Close()
}

// serveWebhook receives the host's webhook deliveries: it verifies the
// signature (HMAC-SHA256 with webhook_secret, in constant time), refuses
// replayed deliveries, drops the cached answers the event makes stale, and
// tells the other gateways through Redis.
func (h *Handler) serveWebhook(w http.ResponseWriter, r *http.Request) error {
	fail := func(status int, err error) error {
		h.logger.Warn("webhook delivery refused", zap.Int("status", status),
			zap.String("delivery", r.Header.Get("X-GitHub-Delivery")), zap.Error(err))
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
	if err := webhook.Verify(h.webhookSecret, body, r.Header.Get("X-Hub-Signature-256")); err != nil {
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
		h.lookups.Invalidate(inv)
		if h.invalidator != nil {
			msg, _ := json.Marshal(inv)
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			err := h.invalidator.client.Publish(ctx, h.invalidator.channel, msg).Err()
			cancel()
			if err != nil {
				h.logger.Error("cache invalidation not sent to the other gateways", zap.Error(err))
			}
		}
	}
	h.logger.Info("webhook delivery", zap.String("event", event), zap.String("delivery", delivery),
		zap.Any("invalidation", inv))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
