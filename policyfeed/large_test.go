package policyfeed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/patgate/patgate/tokenclass"
)

// largeFeed generates a feed of tokens token records and orgs
// organizations; each token is approved, pending or denied for three
// organizations, as a large enterprise's feed would be.
func largeFeed(tokens, orgs int) []byte {
	var b bytes.Buffer
	b.Grow(tokens*230 + orgs*200)
	b.WriteString(`{"version": 7, "enterprise": {"slug": "acme"}, "organizations": [`)
	for i := range orgs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"login": "org-%d", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}, "owners": ["owner-%d"]}`, i, i)
	}
	b.WriteString(`], "tokens": [`)
	statuses := []string{"approved", "pending", "denied"}
	for i := range tokens {
		if i > 0 {
			b.WriteByte(',')
		}
		sum := sha256.Sum256([]byte(fmt.Sprint("github_pat_", i)))
		fmt.Fprintf(&b, `{"sha256": "%s", "owner": "user-%d", "organizations": {"org-%d": "%s", "org-%d": "%s", "org-%d": "%s"}}`,
			hex.EncodeToString(sum[:]), i%50000, i%orgs, statuses[i%3], (i+1)%orgs, statuses[(i+1)%3], (i+7)%orgs, statuses[(i+2)%3])
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkLargeFeed parses, validates and indexes a feed of 1,000,000
// token records and 10,000 organizations (issue 5's goal: at most 3 s and
// 500 MB on a 2-core machine), and reports the heap the snapshot keeps and
// the time of a token lookup in it.
func BenchmarkLargeFeed(b *testing.B) {
	data := largeFeed(1_000_000, 10_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var heap uint64
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(p)
	}
	b.ReportMetric(float64(heap)/(1<<20), "heapMB")
	b.ReportMetric(float64(len(data))/(1<<20), "feedMB")
	p, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	fp := tokenclass.FingerprintOf("github_pat_4242")
	start := time.Now()
	const n = 1_000_000
	for range n {
		if p.Token(fp) == nil {
			b.Fatal("token missing")
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "lookup-ns")
}
