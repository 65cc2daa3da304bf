package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/patgate/patgate/tokenclass"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func refusal(org, token, owner, reason string, at time.Duration) Refusal {
	return Refusal{Organization: org, Fingerprint: tokenclass.FingerprintOf(token), Class: tokenclass.FineGrained,
		Owner: owner, Reason: reason, At: t0.Add(at)}
}

// stores runs a test on the memory inbox and, where redis-server is
// installed, on a Redis inbox.
func stores(t *testing.T, perOrg, maxOrgs int, f func(t *testing.T, s Store, flush func())) {
	t.Run("memory", func(t *testing.T) { f(t, NewMemory(perOrg, maxOrgs), func() {}) })
	t.Run("redis", func(t *testing.T) {
		r, err := NewRedis(startRedis(t), perOrg, maxOrgs, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		f(t, r, func() { r.Flush(context.Background()) })
	})
}

// TestInbox: an organization owner's list of who is waiting: one entry per
// token, counted, the most recently seen first, bounded per organization
// (the least recently seen dropped) and in organizations, never a token.
func TestInbox(t *testing.T) {
	stores(t, 3, 2, func(t *testing.T, s Store, flush func()) {
		ctx := context.Background()
		s.Record(refusal("octo-org", "github_pat_dave", "dave", "approval_pending", 0))
		s.Record(refusal("Octo-Org", "github_pat_dave", "", "approval_pending", time.Minute))
		s.Record(refusal("octo-org", "github_pat_erin", "erin", "approval_denied", 2*time.Minute))
		s.Record(refusal("octo-org", "github_pat_frank", "", "lifetime_exceeded", 3*time.Minute))
		flush()
		got, err := s.List(ctx, "octo-org")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"github_pat_frank lifetime_exceeded  1", "github_pat_erin approval_denied erin 1", "github_pat_dave approval_pending dave 2"}
		if len(got) != len(want) {
			t.Fatalf("%d entries: %+v", len(got), got)
		}
		for i, e := range got {
			tok := strings.Fields(want[i])[0]
			fp := tokenclass.FingerprintOf(tok)
			if e.HashedToken != fp.AuditForm() || e.Token != fp.Prefix() || fmt.Sprintf("%s %s %s %d", tok, e.Reason, e.Owner, e.Requests) != want[i] {
				t.Errorf("entry %d: %+v, want %s", i, e, want[i])
			}
		}
		if d := got[2]; !d.FirstSeen.Equal(t0) || !d.LastSeen.Equal(t0.Add(time.Minute)) || d.Organization == "" || d.TokenClass != "fine_grained" {
			t.Errorf("dave's entry: %+v", d)
		}
		// A fourth token drops the least recently seen (dave).
		s.Record(refusal("octo-org", "github_pat_gina", "gina", "approval_missing", 4*time.Minute))
		flush()
		got, _ = s.List(ctx, "octo-org")
		if len(got) != 3 || got[0].Owner != "gina" || got[2].Owner != "erin" {
			t.Errorf("after a fourth token: %+v", got)
		}
		// A third organization drops the least recently seen one.
		s.Record(refusal("open-org", "github_pat_x", "", "approval_missing", 5*time.Minute))
		s.Record(refusal("new-org", "github_pat_y", "", "approval_missing", 6*time.Minute))
		flush()
		if got, _ := s.List(ctx, "octo-org"); len(got) != 0 {
			t.Errorf("octo-org kept past the bound of organizations: %+v", got)
		}
		all, _ := s.List(ctx, "")
		if len(all) != 2 || all[0].Organization != "new-org" || all[1].Organization != "open-org" {
			t.Errorf("every organization: %+v", all)
		}
		// No token anywhere in what an operator reads.
		out, _ := json.Marshal(all)
		if strings.Contains(string(out), "github_pat_") {
			t.Errorf("a token in the inbox: %s", out)
		}
	})
}

// TestMemoryBound: 100,000 distinct tokens refused in one organization
// (and 100,000 more over 20,000 organizations) leave the inbox at its
// bounds, and the heap with it.
func TestMemoryBound(t *testing.T) {
	m := NewMemory(500, 1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 100_000 {
		m.Record(refusal("octo-org", fmt.Sprint("github_pat_", i), "", "approval_missing", time.Duration(i)))
	}
	for i := range 100_000 {
		m.Record(refusal(fmt.Sprint("org-", i%20_000), fmt.Sprint("github_pat_b", i), "", "approval_missing", time.Duration(i)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := m.Len(); n != 1000 {
		// The 1,000 most recently seen organizations (org-19000 …
		// org-19999) hold one token each: each was dropped between the
		// passes that reached it, and octo-org long before.
		t.Errorf("%d entries, want 1000", n)
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("200,000 refusals, %d entries kept: heap +%.1f MB (%.0f bytes per entry)", m.Len(), float64(grew)/(1<<20), float64(grew)/float64(m.Len()))
	if grew > 8<<20 {
		t.Errorf("the heap grew %d bytes for %d entries", grew, m.Len())
	}
}

// BenchmarkMemoryEntries: the memory of one entry, and the cost of a
// record.
func BenchmarkMemoryEntries(b *testing.B) {
	const n = 100_000
	fps := make([]tokenclass.Fingerprint, n)
	for i := range fps {
		fps[i] = tokenclass.FingerprintOf(fmt.Sprint("github_pat_", i))
	}
	b.ReportAllocs()
	var per float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := NewMemory(n, 10)
		for i, fp := range fps {
			m.Record(Refusal{Organization: "octo-org", Fingerprint: fp, Class: tokenclass.FineGrained, Reason: "approval_missing", At: t0.Add(time.Duration(i))})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(per, "bytes/entry")
}

// startRedis runs Debian's redis-server on a Unix socket; it skips where
// redis-server is missing, and fails under CI, which installs it.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is needed and CI must provide it: %v", err)
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "unix://" + sock + "?db=0"
	opts, _ := redis.ParseURL(url)
	c := redis.NewClient(opts)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url
}
