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
