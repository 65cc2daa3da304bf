// Package webhook reads the Git host's webhook deliveries: it checks their
// signature and works out which cached lookups they make stale (a
// repository made private or public, renamed, transferred or deleted; an
// organization renamed or deleted). It is plain Go; the handler serves it.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patgate/patgate/lookup"
)

// Errors of a delivery the handler refuses.
var (
	// ErrNoSecret: no secret is configured, so nothing can be verified.
	ErrNoSecret     = errors.New("webhook: no secret configured")
	ErrUnsigned     = errors.New("webhook delivery is not signed (X-Hub-Signature-256)")
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrReplayed     = errors.New("webhook delivery was already received")
	ErrMalformed    = errors.New("webhook payload")
)

// Verify checks an X-Hub-Signature-256 header ("sha256=" and the hex
// HMAC-SHA256 of the body with the shared secret) in constant time.
func Verify(secret, body []byte, header string) error {
	if len(secret) == 0 {
		// Anyone can sign with the empty key. Configuration refuses it at
		// load; this is the last line.
		return ErrNoSecret
	}
	if header == "" {
		return ErrUnsigned
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value for a body, as the host sends
// it (for tests and tools).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type account struct {
	Login string `json:"login"`
}

type payload struct {
	Action     string `json:"action"`
	Repository *struct {
		ID       int64   `json:"id"`
		FullName string  `json:"full_name"`
		Name     string  `json:"name"`
		Owner    account `json:"owner"`
	} `json:"repository"`
	Organization *struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
	} `json:"organization"`
	Changes struct {
		Repository struct {
			Name struct {
				From string `json:"from"`
			} `json:"name"`
		} `json:"repository"`
		Owner struct {
			From struct {
				User         *account `json:"user"`
				Organization *account `json:"organization"`
			} `json:"from"`
		} `json:"owner"`
		Login struct {
			From string `json:"from"`
		} `json:"login"`
	} `json:"changes"`
}

// Invalidation returns what a delivery makes stale. Events that change no
// lookup answer return an empty Invalidation.
//
//   - repository (any action: publicized, privatized, edited, renamed,
//     transferred, deleted, archived, …) and public: the repository, by its
//     name now and before a rename or transfer, and by id;
//   - organization renamed or deleted: everything, since the repositories
//     it owned change owner and cannot be listed here.
func Invalidation(event string, body []byte) (lookup.Invalidation, error) {
	var inv lookup.Invalidation
	switch event {
	case "repository", "public", "organization":
	default:
		return inv, nil
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return inv, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch event {
	case "repository", "public":
		r := p.Repository
		if r == nil || r.Owner.Login == "" || r.Name == "" {
			return inv, fmt.Errorf("%w: a %s event without its repository", ErrMalformed, event)
		}
		inv.Repositories = append(inv.Repositories, r.Owner.Login+"/"+r.Name)
		if from := p.Changes.Repository.Name.From; from != "" {
			inv.Repositories = append(inv.Repositories, r.Owner.Login+"/"+from)
		}
		for _, prev := range []*account{p.Changes.Owner.From.User, p.Changes.Owner.From.Organization} {
			if prev != nil && prev.Login != "" {
				inv.Repositories = append(inv.Repositories, prev.Login+"/"+r.Name)
			}
		}
		if r.ID > 0 {
			inv.RepositoryIDs = append(inv.RepositoryIDs, r.ID)
		}
	case "organization":
		if p.Action != "renamed" && p.Action != "deleted" {
			return inv, nil
		}
		inv.All = true
	}
	return inv, nil
}

// Deliveries remembers recent delivery ids, so that a replayed delivery (an
// attacker's copy, or an old one redelivered) is refused. It is bounded by
// age and by count: ids arrive in time order, so the oldest is dropped
// first, whether it expired or the memory is full. A replay of an id
// dropped early only drops cached lookups again, which costs lookups, never
// a wrong decision.
type Deliveries struct {
	// Window is how long an id is remembered; default 24 hours.
	Window time.Duration
	// Max bounds how many ids are remembered; default 100,000.
	Max int

	mu    sync.Mutex
	seen  map[string]time.Time
	order []delivery // oldest first; order[head:] are live
	head  int
}

type delivery struct {
	id string
	at time.Time
}

// MaxDeliveryID bounds a delivery id's length: GitHub's are GUIDs.
const MaxDeliveryID = 128

// Fresh records id and reports whether it was not seen within the window.
func (d *Deliveries) Fresh(id string, now time.Time) bool {
	window, limit := d.Window, d.Max
	if window <= 0 {
		window = 24 * time.Hour
	}
	if limit <= 0 {
		limit = 100_000
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = make(map[string]time.Time)
	}
	for d.head < len(d.order) {
		old := d.order[d.head]
		if now.Sub(old.at) <= window && len(d.order)-d.head < limit {
			break
		}
		if t, ok := d.seen[old.id]; ok && t.Equal(old.at) {
			delete(d.seen, old.id)
		}
		d.order[d.head] = delivery{}
		d.head++
	}
	if d.head > len(d.order)/2 && d.head > 1024 {
		// Compact, so the slice does not grow with every id ever seen.
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
	}
	if t, ok := d.seen[id]; ok && now.Sub(t) <= window {
		return false
	}
	d.seen[id] = now
	d.order = append(d.order, delivery{id, now})
	return true
}

// Len reports how many ids are remembered.
func (d *Deliveries) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
