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
	ErrUnsigned     = errors.New("webhook delivery is not signed (X-Hub-Signature-256)")
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrReplayed     = errors.New("webhook delivery was already received")
	ErrMalformed    = errors.New("webhook payload")
)

// Verify checks an X-Hub-Signature-256 header ("sha256=" and the hex
// HMAC-SHA256 of the body with the shared secret) in constant time.
func Verify(secret, body []byte, header string) error {
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
// attacker's copy, or an old one redelivered) is refused.
type Deliveries struct {
	// Window is how long an id is remembered; default 24 hours.
	Window time.Duration

	mu   sync.Mutex
	seen map[string]time.Time
}

// Fresh records id and reports whether it was not seen within the window.
func (d *Deliveries) Fresh(id string, now time.Time) bool {
	window := d.Window
	if window <= 0 {
		window = 24 * time.Hour
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = make(map[string]time.Time)
	}
	if len(d.seen) > 100000 {
		for k, t := range d.seen {
			if now.Sub(t) > window {
				delete(d.seen, k)
			}
		}
	}
	if t, ok := d.seen[id]; ok && now.Sub(t) <= window {
		return false
	}
	d.seen[id] = now
	return true
}
