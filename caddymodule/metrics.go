package caddymodule

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/policyfeed"
	"github.com/patgate/patgate/tokenclass"
)

// patMetrics are patgate's collectors. They are made once per process and
// registered on the registry of each config that loads, as Caddy's own
// modules do, so that counts survive reloads. Labels come only from bounded
// sets: never a login, a repository or a token.
var patMetrics = struct {
	once            sync.Once
	decisions       *prometheus.CounterVec
	unavailable     *prometheus.CounterVec
	lookupDuration  *prometheus.HistogramVec
	lookupCache     *prometheus.CounterVec
	feedVersion     *prometheus.GaugeVec
	feedLastSuccess *prometheus.GaugeVec
	feedRejections  *prometheus.CounterVec
	removed         *prometheus.CounterVec
}{}

func initMetrics(registry *prometheus.Registry) error {
	const ns, sub = "caddy", "pat_policy"
	patMetrics.once.Do(func() {
		patMetrics.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "decisions_total",
			Help: "Decisions on requests that carry a personal access token.",
		}, []string{"decision", "reason", "token_class", "mode"})
		patMetrics.unavailable = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "unavailable_total",
			Help: "Decisions that could not be made because a fact the policy needs could not be had: answered 503 (fail closed), or forwarded under fail_open or report mode.",
		}, []string{"reason"})
		patMetrics.lookupDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "lookup_duration_seconds",
			Help:    "Calls to the Git host's API for ownership, visibility and token owners.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind", "result"})
		patMetrics.lookupCache = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "lookup_cache_total",
			Help: "Lookup cache hits and misses.",
		}, []string{"result"})
		patMetrics.feedVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "feed_version",
			Help: "Version of the policy feed in force (0: none).",
		}, []string{"source"})
		patMetrics.feedLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "feed_last_success_timestamp_seconds",
			Help: "When the policy feed was last fetched and found good or unchanged.",
		}, []string{"source"})
		patMetrics.feedRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "feed_rejections_total",
			Help: "Feed fetches that did not put a new feed in force, by reason.",
		}, []string{"reason"})
		patMetrics.removed = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "answer_elements_removed_total",
			Help: "Elements removed from answers that list resources of several owners (SPEC 10), by the reason their owner refused them.",
		}, []string{"reason"})
		// Pre-create the label sets an alert may watch, so that they read
		// 0 rather than missing.
		for _, r := range []string{"lookup_failed", "no_feed"} {
			patMetrics.unavailable.WithLabelValues(r)
		}
		for _, r := range feedRejectionReasons {
			patMetrics.feedRejections.WithLabelValues(r)
		}
		cacheHits = patMetrics.lookupCache.WithLabelValues("hit")
		cacheMisses = patMetrics.lookupCache.WithLabelValues("miss")
	})
	for _, c := range []prometheus.Collector{patMetrics.decisions, patMetrics.unavailable, patMetrics.lookupDuration,
		patMetrics.lookupCache, patMetrics.feedVersion, patMetrics.feedLastSuccess, patMetrics.feedRejections, patMetrics.removed} {
		if err := registry.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

// decisionCounters caches the counter of each label combination the
// request path can produce, so that counting a decision is an atomic add
// instead of hashing four label values under a lock on every request.
var decisionCounters [enforce.NumOutcomes][2][enforce.NumReasons][2]atomic.Pointer[prometheus.Counter]

// countDecision counts one decision record.
func countDecision(decision string, d enforce.Decision, class tokenclass.Class, mode string) {
	if patMetrics.decisions == nil {
		return
	}
	report, pat := 0, 0
	if mode == ModeReport {
		report = 1
	}
	if class == tokenclass.FineGrained {
		pat = 1
	}
	var slot *atomic.Pointer[prometheus.Counter]
	if int(d.Outcome) < enforce.NumOutcomes && int(d.Reason) < enforce.NumReasons && (class == tokenclass.Classic || class == tokenclass.FineGrained) {
		slot = &decisionCounters[d.Outcome][report][d.Reason][pat]
		if c := slot.Load(); c != nil {
			(*c).Inc()
			countUnavailable(d)
			return
		}
	}
	c := patMetrics.decisions.WithLabelValues(decision, d.Reason.String(), class.String(), mode)
	if slot != nil {
		slot.Store(&c)
	}
	c.Inc()
	countUnavailable(d)
}

func countUnavailable(d enforce.Decision) {
	if d.Outcome == enforce.Unavailable {
		patMetrics.unavailable.WithLabelValues(d.Reason.String()).Inc()
	}
}

// countMalformed counts a PAT request refused with 400 or 413.
func countMalformed(class tokenclass.Class) {
	if patMetrics.decisions == nil {
		return
	}
	patMetrics.decisions.WithLabelValues("malformed", "malformed", class.String(), ModeEnforce).Inc()
}

func countCache(hit bool) {
	if cacheHits == nil {
		return
	}
	if hit {
		cacheHits.Inc()
	} else {
		cacheMisses.Inc()
	}
}

// cacheHits and cacheMisses are the two lookup cache counters, made once.
var cacheHits, cacheMisses prometheus.Counter

// observeLookup is lookup.Config.Observe.
func observeLookup(kind string, took time.Duration, err error) {
	if patMetrics.lookupDuration == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	patMetrics.lookupDuration.WithLabelValues(kind, result).Observe(took.Seconds())
}

var feedRejectionReasons = []string{"fetch_failed", "invalid", "bad_signature", "unsigned", "unexpected_signature", "expired", "rollback", "too_large"}

// feedResult is the watcher's OnResult: the feed's metrics.
func feedResult(source string, store *policyfeed.Store) func(policyfeed.Result) {
	return func(r policyfeed.Result) {
		if patMetrics.feedVersion == nil {
			return
		}
		if p := store.Load(); p != nil {
			patMetrics.feedVersion.WithLabelValues(source).Set(float64(p.Version()))
		}
		if r.Err == nil {
			patMetrics.feedLastSuccess.WithLabelValues(source).SetToCurrentTime()
			return
		}
		patMetrics.feedRejections.WithLabelValues(rejectionReason(r)).Inc()
	}
}

func rejectionReason(r policyfeed.Result) string {
	switch err := r.Err; {
	case !r.Changed:
		return "fetch_failed"
	case errors.Is(err, policyfeed.ErrTooLarge):
		return "too_large"
	case errors.Is(err, policyfeed.ErrUnsigned):
		return "unsigned"
	case errors.Is(err, policyfeed.ErrUnexpectedSignature):
		return "unexpected_signature"
	case errors.Is(err, policyfeed.ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, policyfeed.ErrExpired):
		return "expired"
	case errors.Is(err, policyfeed.ErrRollback):
		return "rollback"
	}
	return "invalid"
}

// countRemoved counts the elements an answer check removed, by reason.
func countRemoved(byReason [enforce.NumReasons]int) {
	if patMetrics.removed == nil {
		return
	}
	for r, n := range byReason {
		if n > 0 {
			patMetrics.removed.WithLabelValues(enforce.Reason(r).String()).Add(float64(n))
		}
	}
}
