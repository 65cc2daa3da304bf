package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/gate"
	"github.com/patgate/patgate/inbox"
)

// The approval inbox (docs/operations.md): the tokens refused for a reason
// their owner or an organization owner can fix, per organization.

// memoryInbox is the process's inbox when no Redis is used: one for every
// handler, kept across config reloads.
var memoryInbox = inbox.NewMemory(0, 0)

// redisInboxes holds the process's Redis inboxes, one per server URL.
var redisInboxes = caddy.NewUsagePool()

// webhookRedis counts the receivers of each Redis URL pat_policy_webhook
// uses: the inbox lives there when the handler names none and there is
// exactly one.
var webhookRedis = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func noteWebhookRedis(url string, delta int) {
	webhookRedis.Lock()
	defer webhookRedis.Unlock()
	if webhookRedis.n[url] += delta; webhookRedis.n[url] <= 0 {
		delete(webhookRedis.n, url)
	}
}

func webhookRedisURLs() []string {
	webhookRedis.Lock()
	defer webhookRedis.Unlock()
	var urls []string
	for u := range webhookRedis.n {
		urls = append(urls, u)
	}
	return urls
}

type redisInbox struct{ *inbox.Redis }

func (r redisInbox) Destruct() error { return r.Close() }

// inboxFor is the handler's inbox, settled on first use: by then every
// module of the config, the webhook receivers included, is provisioned.
type inboxFor struct {
	once  sync.Once
	store inbox.Store
	key   string // the redisInboxes key it holds, to release
}

func (h *Handler) inboxStore() inbox.Store {
	if h.inbox == nil {
		// A handler used without Provision (tests): the process's memory.
		return memoryInbox
	}
	h.inbox.once.Do(func() {
		url := h.InboxRedis
		if url == "" {
			if urls := webhookRedisURLs(); len(urls) == 1 {
				url = urls[0]
			}
		}
		if url == "" {
			memoryInbox.SetBounds(h.InboxSize, h.InboxOrganizations)
			h.inbox.store = memoryInbox
			return
		}
		v, _, err := redisInboxes.LoadOrNew(url, func() (caddy.Destructor, error) {
			r, err := inbox.NewRedis(url, h.InboxSize, h.InboxOrganizations, time.Duration(h.InboxTTL))
			if err != nil {
				return nil, err
			}
			return redisInbox{r}, nil
		})
		if err != nil {
			h.logger.Error("the approval inbox cannot use Redis; it is kept in this process", zap.Error(err))
			h.inbox.store = memoryInbox
			return
		}
		h.inbox.store, h.inbox.key = v.(redisInbox).Redis, url
	})
	return h.inbox.store
}

// releaseInbox lets go of a Redis inbox the handler used.
func (h *Handler) releaseInbox() {
	if h.inbox != nil && h.inbox.key != "" {
		if _, err := redisInboxes.Delete(h.inbox.key); err != nil {
			h.logger.Error("releasing the approval inbox", zap.Error(err))
		}
	}
}

// inboxReasons are the refusals an owner can act on: approval, lifetime.
var inboxReasons = [enforce.NumReasons]bool{
	enforce.ReasonApprovalMissing: true, enforce.ReasonApprovalPending: true,
	enforce.ReasonApprovalDenied: true, enforce.ReasonApprovalRevoked: true,
	enforce.ReasonLifetimeExceeded: true,
}

// noteRefusal puts a refusal the inbox keeps into it (report mode's
// would-be refusals too: they are what a rollout waits on).
func (h *Handler) noteRefusal(rec *gate.Record, owner string) {
	d := rec.Decision
	if d.Outcome != enforce.Deny || int(d.Reason) >= len(inboxReasons) || !inboxReasons[d.Reason] || d.Subject == "" {
		return
	}
	h.inboxStore().Record(inbox.Refusal{Organization: d.Subject, Fingerprint: rec.Token.Fingerprint,
		Class: rec.Cred.Class, Owner: owner, Reason: d.Reason.String(), At: rec.Start})
}

// requestsAnswer is GET /pat-policy/requests.
type requestsAnswer struct {
	Stores  []string      `json:"stores"`
	Entries []inbox.Entry `json:"entries"`
}

// listRequests answers GET /pat-policy/requests[?organization=X]: the
// inbox of every running handler (one list per store, merged), the most
// recently seen first.
func listRequests(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed; use GET")}
	}
	org := r.URL.Query().Get("organization")
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out := requestsAnswer{Stores: []string{}, Entries: []inbox.Entry{}}
	seen := map[inbox.Store]bool{}
	var stores []inbox.Store
	activeHandlers.Range(func(k, _ any) bool {
		if s := k.(*Handler).inboxStore(); !seen[s] {
			seen[s] = true
			stores = append(stores, s)
		}
		return true
	})
	for _, s := range stores {
		if f, ok := s.(interface{ Flush(context.Context) }); ok {
			f.Flush(ctx) // what this gateway refused a moment ago, too
		}
		es, err := s.List(ctx, org)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("the inbox at %s: %w", s.Describe(), err)}
		}
		out.Stores = append(out.Stores, s.Describe())
		out.Entries = append(out.Entries, es...)
	}
	inbox.Sort(out.Entries)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}
