package policyfeed

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/patgate/patgate/enforce"
)

var (
	// ErrSameVersion means the offered snapshot has the version already in
	// force. It is not a failure: sources often deliver the same feed again.
	ErrSameVersion = errors.New("same feed version")
	// ErrRollback means the offered snapshot is older than the one in
	// force. Feeds only move forward, so that a replayed or stale feed
	// cannot undo a revocation.
	ErrRollback = errors.New("feed version rollback")
)

// Store holds the policy snapshot in force. Requests read it with Load,
// without locks; the feed watcher replaces it whole with Offer, so no
// request ever sees half of a feed. The zero value is an empty store, ready
// to use.
type Store struct {
	p atomic.Pointer[enforce.Policy]
}

// Load returns the snapshot in force, or nil until a first feed has been
// accepted (SPEC §5: PAT requests to enterprise resources then get 503).
// It is a single atomic load, cheap enough for every request.
func (s *Store) Load() *enforce.Policy {
	return s.p.Load()
}

// Offer makes p the snapshot in force if its version is newer than the
// current one. An equal version changes nothing and returns ErrSameVersion;
// an older one returns ErrRollback. Concurrent offers are safe: the version
// in force never moves backwards.
func (s *Store) Offer(p *enforce.Policy) error {
	if p == nil {
		return errors.New("offer of a nil policy")
	}
	for {
		cur := s.p.Load()
		if cur != nil {
			switch v, c := p.Version(), cur.Version(); {
			case v == c:
				return fmt.Errorf("%w: version %d is already in force", ErrSameVersion, v)
			case v < c:
				return fmt.Errorf("%w: version %d is older than version %d in force", ErrRollback, v, c)
			}
		}
		// A plain Store could let a slower goroutine overwrite a newer
		// snapshot it never saw; CompareAndSwap retries against it instead.
		if s.p.CompareAndSwap(cur, p) {
			return nil
		}
	}
}
