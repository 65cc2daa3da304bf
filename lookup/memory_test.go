package lookup

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// anyRepoHost answers GET /repos/{owner}/{repo} for every repository, in
// process, so that a million lookups take seconds instead of minutes of
// loopback round trips. It stands for the Git host, not for patgate code.
type anyRepoHost struct{}

func (anyRepoHost) RoundTrip(r *http.Request) (*http.Response, error) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v3/repos/"), "/")
	body := fmt.Sprintf(`{"id":1,"owner":{"login":%q,"type":"Organization"},"visibility":"private","private":true}`, parts[0])
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

// BenchmarkCacheMemory looks up 1,000,000 distinct repositories with a
// cache of 10,000 entries and reports the heap the client holds afterwards:
// the cache must stay within its configured cost, whatever the traffic.
func BenchmarkCacheMemory(b *testing.B) {
	const distinct, entries = 1_000_000, 10_000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := New(Config{BaseURL: "http://host.invalid/api/v3", MaxEntries: entries, HTTPClient: &http.Client{Transport: anyRepoHost{}}})
		if err != nil {
			b.Fatal(err)
		}
		for i := range distinct {
			if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: fmt.Sprint("org-", i%5000), Name: fmt.Sprint("repo-", i)}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(held/(1<<20), "heldMB")
		b.ReportMetric(held/entries, "bytes/entry")
		runtime.KeepAlive(c)
		c.Close()
	}
}

// BenchmarkLongNameFlood replays the flood of issue 13: 600 GraphQL
// documents naming 16 repositories each, every name 60 KB long and each one
// different, with the default cache settings, and reports the heap the
// client holds afterwards. Names that long are legal in a URL the gateway
// forwards, so the cache must count them at their size, not as one entry.
func BenchmarkLongNameFlood(b *testing.B) {
	const documents, names, nameBytes = 600, 16, 60 << 10
	long := strings.Repeat("n", nameBytes)
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := New(Config{BaseURL: "http://host.invalid/api/v3", HTTPClient: &http.Client{Transport: anyRepoHost{}}})
		if err != nil {
			b.Fatal(err)
		}
		for i := range documents * names {
			name := fmt.Sprint(i, "-", long)
			if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: name}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/(1<<20), "heldMB")
		runtime.KeepAlive(c)
		c.Close()
	}
}

// withCacheMetrics makes the clients New returns during the test keep
// ristretto's metrics, from which the retained cost is read.
func withCacheMetrics(t *testing.T) {
	t.Helper()
	cacheMetrics = true
	t.Cleanup(func() { cacheMetrics = false })
}

// retained is the cost a cache holds now: bytes, as entries are charged.
func retained(m interface {
	CostAdded() uint64
	CostEvicted() uint64
}) int64 {
	return int64(m.CostAdded() - m.CostEvicted())
}

// TestCacheBoundedByBytes: 600 documents naming 16 repositories of 60 KB
// each grew the process from 115 to 408 MB, because every entry cost 1
// whatever its size. Charged at their size, entries stay within MaxBytes,
// and so does the heap the client holds.
func TestCacheBoundedByBytes(t *testing.T) {
	withCacheMetrics(t)
	const budget, nameBytes, lookups = 4 << 20, 60 << 10, 600
	long := strings.Repeat("n", nameBytes)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := New(Config{BaseURL: "http://host.invalid/api/v3", MaxBytes: budget, MaxEntries: 1000, HTTPClient: &http.Client{Transport: anyRepoHost{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range lookups {
		name := fmt.Sprint(i, "-", long)
		if _, _, err := c.Resource(context.Background(), target.Target{Scope: target.Repository, Owner: "octo-org", Name: name}); err != nil {
			t.Fatal(err)
		}
		if got := retained(c.res.Metrics); got > budget {
			t.Fatalf("after %d lookups the cache holds %d bytes, budget %d", i+1, got, budget)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// The budget, plus the fixed admission counters and whatever the
	// test's own garbage left: far below the 36 MB of names looked up.
	if held > 2*budget {
		t.Errorf("the client holds %d bytes of heap, budget %d", held, budget)
	}
	if kept := c.res.Metrics.KeysAdded() - c.res.Metrics.KeysEvicted(); kept == 0 || kept > budget/nameBytes {
		t.Errorf("%d entries kept, want between 1 and %d", kept, budget/nameBytes)
	}
	t.Logf("%d lookups of %d KB names: cache holds %d bytes (%d entries), heap held %.1f MB", lookups, nameBytes>>10, retained(c.res.Metrics), c.res.Metrics.KeysAdded()-c.res.Metrics.KeysEvicted(), float64(held)/(1<<20))
	runtime.KeepAlive(c)
}

// TestCacheBoundedByCount: MaxEntries still bounds the number of answers,
// small or not, and that many fit: the cache used to charge each entry
// ristretto's internal item size on top of 1 against a budget of
// MaxEntries, so that it held one entry in 57.
func TestCacheBoundedByCount(t *testing.T) {
	withCacheMetrics(t)
	const entries = 100
	c, err := New(Config{BaseURL: "http://host.invalid/api/v3", MaxEntries: entries, HTTPClient: &http.Client{Transport: anyRepoHost{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	repo := func(i int) target.Target {
		return target.Target{Scope: target.Repository, Owner: "octo-org", Name: fmt.Sprint("repo-", i)}
	}
	for i := range entries {
		if _, _, err := c.Resource(context.Background(), repo(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range entries {
		if _, hit, err := c.Resource(context.Background(), repo(i)); err != nil || !hit {
			t.Fatalf("entry %d of %d not kept: hit=%v err=%v", i, entries, hit, err)
		}
	}
	for i := entries; i < 4*entries; i++ {
		if _, _, err := c.Resource(context.Background(), repo(i)); err != nil {
			t.Fatal(err)
		}
	}
	if kept := c.res.Metrics.KeysAdded() - c.res.Metrics.KeysEvicted(); kept > entries {
		t.Errorf("%d entries kept, MaxEntries %d", kept, entries)
	}
	// The token owner cache is bounded the same way.
	for i := range 4 * entries {
		tok := fmt.Sprint("github_pat_", i)
		if _, _, err := c.TokenOwner(context.Background(), tok, tokenclass.FingerprintOf(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if kept := c.owners.Metrics.KeysAdded() - c.owners.Metrics.KeysEvicted(); kept > entries || retained(c.owners.Metrics) > defaultMaxBytes {
		t.Errorf("token owners: %d entries kept, MaxEntries %d", kept, entries)
	}
}
