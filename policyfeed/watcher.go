package policyfeed

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// DefaultInterval is how often a Watcher polls when given no interval. It is
// short because a revoked approval should stop working soon, and a poll of
// an unchanged file or an ETag'd URL is cheap.
const DefaultInterval = 10 * time.Second

// Result is the outcome of one Refresh, for metrics and tests.
type Result struct {
	// Changed reports that the source had new content, which was parsed.
	Changed bool
	// Version is the version of that new content if it parsed, else 0.
	Version int64
	// Accepted reports that the new content is now the snapshot in force.
	Accepted bool
	// Err is the error Refresh returned: nil also when nothing changed or
	// the new content carried the version already in force.
	Err error
}

// Watcher keeps a Store fed from a Source: it polls, parses and offers, and
// on any failure leaves the last good snapshot in force.
type Watcher struct {
	// OnResult, if set, is called after every Refresh with its outcome, on
	// the goroutine that ran it. It is the hook for metrics; set it before
	// Run starts.
	OnResult func(Result)

	src      Source
	store    *Store
	interval time.Duration
	log      *zap.Logger
}

// NewWatcher returns a watcher that refreshes store from src every interval
// (DefaultInterval if interval is not positive). A nil log discards logs.
func NewWatcher(src Source, store *Store, interval time.Duration, log *zap.Logger) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Watcher{src: src, store: store, interval: interval, log: log}
}

// Refresh fetches the feed once and, if it changed, parses it and offers it
// to the store. It returns nil when the new feed is in force, when nothing
// changed, and when the feed carries the version already in force; any
// other outcome is an error, and the store keeps its snapshot. Feed
// contents are never logged, only their version, counts and the reason for
// a rejection.
func (w *Watcher) Refresh(ctx context.Context) error {
	r := w.refresh(ctx)
	if w.OnResult != nil {
		w.OnResult(r)
	}
	return r.Err
}

func (w *Watcher) refresh(ctx context.Context) Result {
	src := zap.Stringer("source", w.src)
	data, changed, err := w.src.Fetch(ctx)
	if err != nil {
		w.log.Error("policy feed unavailable; keeping the feed in force", src, w.inForce(), zap.Error(err))
		return Result{Err: err}
	}
	if !changed {
		return Result{}
	}
	p, err := Parse(data)
	if err != nil {
		w.log.Error("policy feed rejected; keeping the feed in force", src, w.inForce(), zap.Error(err))
		return Result{Changed: true, Err: err}
	}
	r := Result{Changed: true, Version: p.Version()}
	switch err := w.store.Offer(p); {
	case errors.Is(err, ErrSameVersion):
		w.log.Warn("policy feed content changed but its version did not; ignored until the version is raised", src, zap.Int64("version", r.Version))
		return r
	case err != nil:
		w.log.Warn("policy feed rejected; keeping the feed in force", src, w.inForce(), zap.Error(err))
		r.Err = err
		return r
	}
	orgs, tokens := p.Counts()
	w.log.Info("policy feed loaded", src,
		zap.Int64("version", r.Version), zap.Int("organizations", orgs), zap.Int("tokens", tokens))
	r.Accepted = true
	return r
}

// inForce is the log field for the version that stays in force after a
// rejection; 0 means none, so PAT requests to the enterprise get 503.
func (w *Watcher) inForce() zap.Field {
	var v int64
	if p := w.store.Load(); p != nil {
		v = p.Version()
	}
	return zap.Int64("version_in_force", v)
}

// Run refreshes at once and then every interval until ctx is done. A panic
// in one refresh is logged with its stack and does not stop the loop: a bug
// triggered by one feed must not freeze the policy for good.
func (w *Watcher) Run(ctx context.Context) {
	w.safeRefresh(ctx)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.safeRefresh(ctx)
		}
	}
}

func (w *Watcher) safeRefresh(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("policy feed refresh panicked", zap.Stringer("source", w.src),
				zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	// Refresh logs its own errors; Run has no one to return them to.
	_ = w.Refresh(ctx)
}
