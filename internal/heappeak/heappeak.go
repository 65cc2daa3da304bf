// Package heappeak measures what running a function costs in memory, for
// tests that prove a bound: the heap's peak above where it started, sampled
// every millisecond while the function runs, and everything it allocated.
package heappeak

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Use is what running a function cost.
type Use struct {
	// Peak is the highest the heap rose above its level before the run.
	Peak uint64
	// Total is everything allocated during the run.
	Total uint64
	// Took is how long the run took.
	Took time.Duration
}

// Measure runs fn and reports its cost. It collects garbage first, so
// that Peak starts from the live heap.
func Measure(fn func()) Use {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > before.HeapAlloc && m.HeapAlloc-before.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc - before.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	start := time.Now()
	fn()
	took := time.Since(start)
	close(stop)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > peak.Load() {
		peak.Store(after.HeapAlloc - before.HeapAlloc)
	}
	return Use{Peak: peak.Load(), Total: after.TotalAlloc - before.TotalAlloc, Took: took}
}
