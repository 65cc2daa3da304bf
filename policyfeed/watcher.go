package policyfeed

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/patgate/patgate/enforce"
)

// The default polling intervals, which NewWatcher picks by the kind of
// source when it is given none. They are short because a revoked approval
// should stop working soon; the Caddy module's feed_refresh defaults to the
// same (caddymodule/feed.go).
const (
	// DefaultInterval is how often a Watcher polls a file, or any source
	// but a URL: every second. A poll of an unchanged file is an open and
	// an fstat, microseconds however large the feed (see FileSource).
	DefaultInterval = time.Second
	// DefaultURLInterval is how often a Watcher polls an HTTP(S) source:
	// every 30 seconds. An unchanged feed costs a 304, but still a round
	// trip to a server that every gateway polls.
	DefaultURLInterval = 30 * time.Second
)

// Result is the outcome of one Refresh, for metrics and tests.
type Result struct {
	// Changed reports that the source had new content, which was parsed,
	// or refused while it was read (too large, or the wrong kind of feed
	// from its first bytes).
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

	// Verifier, when set, requires every feed (and the cached one) to be
	// signed with its key. Set it before Run starts.
	Verifier *Verifier
	// CachePath, when set, is where the last accepted feed is kept, as it
	// was fetched (signature included), so that a restart with the source
	// down starts from it after verifying it again. Set it before Run.
	CachePath string
	// MaxBackoff caps the wait between attempts after failures; default
	// five minutes, and never less than the interval.
	MaxBackoff time.Duration
	// MaxSize bounds a feed, fetched or cached, in bytes; DefaultMaxSize
	// when not positive. Set it before Run.
	MaxSize int64

	src      Source
	store    *Store
	interval time.Duration
	log      *zap.Logger
	// mu serialises refreshes: the loop's and those asked for through the
	// admin API.
	mu sync.Mutex
	// kick wakes the loop for an immediate refresh.
	kick chan struct{}
}

// NewWatcher returns a watcher that refreshes store from src every interval:
// if interval is not positive, DefaultURLInterval for an *HTTPSource and
// DefaultInterval for any other. A nil log discards logs.
func NewWatcher(src Source, store *Store, interval time.Duration, log *zap.Logger) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
		if _, ok := src.(*HTTPSource); ok {
			interval = DefaultURLInterval
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Watcher{src: src, store: store, interval: interval, log: log, kick: make(chan struct{}, 1)}
}

// Source returns the watcher's source.
func (w *Watcher) Source() Source { return w.src }

// Store returns the store the watcher feeds.
func (w *Watcher) Store() *Store { return w.store }

// LoadCache offers the cached last good feed, verified and parsed again as
// if it had just been fetched. It is how a restart survives a feed outage;
// a missing cache is not an error.
func (w *Watcher) LoadCache() error {
	if w.CachePath == "" {
		return nil
	}
	data, err := readFeedFile(w.CachePath, w.expect())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil && !isRefusal(err) {
		w.log.Error("cached policy feed unreadable", zap.String("cache", w.CachePath), zap.Error(err))
		return err
	}
	var p *enforce.Policy
	if err == nil {
		p, err = Load(data, w.Verifier)
	}
	if err == nil {
		err = w.store.Offer(p)
	}
	if err != nil && !errors.Is(err, ErrSameVersion) {
		w.log.Error("cached policy feed rejected", zap.String("cache", w.CachePath), zap.Error(err))
		return err
	}
	orgs, tokens := p.Counts()
	w.log.Info("policy feed loaded from cache", zap.String("cache", w.CachePath),
		zap.Int64("version", p.Version()), zap.Int("organizations", orgs), zap.Int("tokens", tokens))
	return nil
}

// expect is what the watcher accepts, for its source.
func (w *Watcher) expect() Expect {
	return Expect{MaxSize: w.MaxSize, Verifier: w.Verifier}
}

// writeCache keeps an accepted feed, written to a temporary file and renamed
// over the old one so that a crash never leaves half a feed.
func (w *Watcher) writeCache(data []byte) {
	if w.CachePath == "" {
		return
	}
	err := writeFileAtomic(w.CachePath, data)
	if err != nil {
		w.log.Warn("could not keep the policy feed for restarts", zap.String("cache", w.CachePath), zap.Error(err))
	}
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Trigger asks Run for a refresh now, without waiting for it.
func (w *Watcher) Trigger() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Refresh fetches the feed once and, if it changed, parses it and offers it
// to the store. It returns nil when the new feed is in force, when nothing
// changed, and when the feed carries the version already in force; any
// other outcome is an error, and the store keeps its snapshot. Feed
// contents are never logged, only their version, counts and the reason for
// a rejection.
func (w *Watcher) Refresh(ctx context.Context) error {
	return w.run(ctx).Err
}

// run is one refresh, serialised with the others and reported to OnResult.
func (w *Watcher) run(ctx context.Context) Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.refresh(ctx)
	if w.OnResult != nil {
		w.OnResult(r)
	}
	return r
}

func (w *Watcher) refresh(ctx context.Context) Result {
	src := zap.Stringer("source", w.src)
	data, changed, err := w.src.Fetch(ctx, w.expect())
	if err != nil && isRefusal(err) {
		// Refused while it was read: a rejection like one by Load, only
		// earlier, counted under the same reasons.
		w.log.Error("policy feed rejected; keeping the feed in force", src, w.inForce(), zap.Error(err))
		return Result{Changed: true, Err: err}
	}
	if err != nil {
		w.log.Error("policy feed unavailable; keeping the feed in force", src, w.inForce(), zap.Error(err))
		return Result{Err: err}
	}
	if !changed {
		return Result{}
	}
	p, err := Load(data, w.Verifier)
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
	w.writeCache(data)
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

// Run refreshes at once and then every interval until ctx is done. After a
// failure to reach the source it waits longer each time (doubling, up to
// MaxBackoff, with jitter so that many gateways do not retry in step). A
// panic in one refresh is logged with its stack and does not stop the loop:
// a bug triggered by one feed must not freeze the policy for good.
func (w *Watcher) Run(ctx context.Context) {
	failures := 0
	for {
		if w.safeRefresh(ctx) {
			failures++
		} else {
			failures = 0
		}
		t := time.NewTimer(w.delay(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// delay is the wait before the next refresh after failures consecutive
// failures to fetch.
func (w *Watcher) delay(failures int) time.Duration {
	if failures == 0 {
		return w.interval
	}
	ceiling := max(w.MaxBackoff, w.interval)
	if w.MaxBackoff <= 0 {
		ceiling = max(5*time.Minute, w.interval)
	}
	d := w.interval
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	// Full jitter over the upper half: never less than half the delay.
	return d/2 + rand.N(d/2+1)
}

// safeRefresh runs one refresh and reports whether the source could not be
// reached.
func (w *Watcher) safeRefresh(ctx context.Context) (fetchFailed bool) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("policy feed refresh panicked", zap.Stringer("source", w.src),
				zap.Any("panic", r), zap.Stack("stack"))
			fetchFailed = true
		}
	}()
	r := w.run(ctx)
	return r.Err != nil && !r.Changed
}
