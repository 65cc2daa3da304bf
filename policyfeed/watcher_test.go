package policyfeed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// feedV returns a valid feed of the given version whose enterprise slug
// tells two feeds of one version apart.
func feedV(version int, slug string) string {
	return fmt.Sprintf(`{"version":%d,"enterprise":{"slug":%q},"tokens":[{"sha256":%q,"owner":"carol"}]}`, version, slug, fpA)
}

// TestWatcherRefresh walks one watcher through the life of a feed file. The
// steps share the file and the store, so they run in order.
func TestWatcherRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	core, logs := observer.New(zapcore.DebugLevel)
	var store Store
	w := NewWatcher(&FileSource{Path: path}, &store, time.Hour, zap.New(core))
	var last Result
	w.OnResult = func(r Result) { last = r }

	steps := []struct {
		name     string
		write    string // "" leaves the file alone
		remove   bool
		wantErr  error
		want     Result // Err is checked through wantErr
		inForce  int64  // version in force afterwards
		wantSlug string
	}{
		{name: "first valid feed", write: feedV(1, "one"),
			want: Result{Changed: true, Version: 1, Accepted: true}, inForce: 1, wantSlug: "one"},
		{name: "unchanged file is not parsed again",
			want: Result{}, inForce: 1, wantSlug: "one"},
		{name: "invalid feed keeps the last good one", write: `{"version":2,"enterprise":{"classic":{"access":"restricted"}}}`,
			wantErr: ErrInvalidFeed, want: Result{Changed: true}, inForce: 1, wantSlug: "one"},
		{name: "unchanged invalid feed is reported once",
			want: Result{}, inForce: 1, wantSlug: "one"},
		{name: "newer valid feed swaps", write: feedV(2, "two"),
			want: Result{Changed: true, Version: 2, Accepted: true}, inForce: 2, wantSlug: "two"},
		{name: "same version with other content is ignored", write: feedV(2, "two-bis"),
			want: Result{Changed: true, Version: 2}, inForce: 2, wantSlug: "two"},
		{name: "older feed is a rollback", write: feedV(1, "one"),
			wantErr: ErrRollback, want: Result{Changed: true, Version: 1}, inForce: 2, wantSlug: "two"},
		{name: "missing file keeps the last good feed", remove: true,
			wantErr: fs.ErrNotExist, want: Result{}, inForce: 2, wantSlug: "two"},
		{name: "feed comes back newer", write: feedV(3, "three"),
			want: Result{Changed: true, Version: 3, Accepted: true}, inForce: 3, wantSlug: "three"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.write != "" {
				writeFile(t, path, st.write)
			}
			if st.remove {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			err := w.Refresh(context.Background())
			if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
				t.Fatalf("Refresh = %v, want %v", err, st.wantErr)
			}
			if last.Err != err {
				t.Errorf("OnResult got Err %v, Refresh returned %v", last.Err, err)
			}
			got := last
			got.Err = nil
			if got != st.want {
				t.Errorf("OnResult got %+v, want %+v", got, st.want)
			}
			p := store.Load()
			if p == nil {
				t.Fatal("Load() = nil")
			}
			if p.Version() != st.inForce || p.Enterprise().Slug != st.wantSlug {
				t.Errorf("in force: version %d slug %q, want %d %q", p.Version(), p.Enterprise().Slug, st.inForce, st.wantSlug)
			}
		})
	}

	t.Run("logs", func(t *testing.T) {
		want := []struct {
			level zapcore.Level
			msg   string
		}{
			{zapcore.InfoLevel, "policy feed loaded"},
			{zapcore.ErrorLevel, "policy feed rejected; keeping the feed in force"},
			{zapcore.InfoLevel, "policy feed loaded"},
			{zapcore.WarnLevel, "policy feed content changed but its version did not; ignored until the version is raised"},
			{zapcore.WarnLevel, "policy feed rejected; keeping the feed in force"},
			{zapcore.ErrorLevel, "policy feed unavailable; keeping the feed in force"},
			{zapcore.InfoLevel, "policy feed loaded"},
		}
		entries := logs.AllUntimed()
		if len(entries) != len(want) {
			t.Fatalf("got %d log entries, want %d: %v", len(entries), len(want), entries)
		}
		for i, e := range entries {
			if e.Level != want[i].level || e.Message != want[i].msg {
				t.Errorf("entry %d = %v %q, want %v %q", i, e.Level, e.Message, want[i].level, want[i].msg)
			}
			// Versions, counts and reasons only: never the records.
			for k, v := range e.ContextMap() {
				if s := fmt.Sprint(v); strings.Contains(s, fpA[:12]) || strings.Contains(s, "carol") {
					t.Errorf("entry %d field %s = %q leaks feed contents", i, k, s)
				}
			}
		}
		loaded := entries[0].ContextMap()
		for k, v := range map[string]any{"version": int64(1), "organizations": int64(0), "tokens": int64(1), "source": path} {
			if fmt.Sprint(loaded[k]) != fmt.Sprint(v) {
				t.Errorf("loaded entry %s = %v, want %v", k, loaded[k], v)
			}
		}
	})
}

func TestWatcherMissingAtStart(t *testing.T) {
	var store Store
	path := filepath.Join(t.TempDir(), "absent.json")
	w := NewWatcher(&FileSource{Path: path}, &store, 0, nil)
	err := w.Refresh(context.Background())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Refresh = %v, want a not-exist error naming %s", err, path)
	}
	if p := store.Load(); p != nil {
		t.Errorf("Load() = %v, want nil until a first feed", p)
	}
	if w.interval != DefaultInterval {
		t.Errorf("interval = %v, want DefaultInterval for 0", w.interval)
	}
}

func TestNewWatcherInterval(t *testing.T) {
	tests := []struct {
		name     string
		src      Source
		interval time.Duration
		want     time.Duration
	}{
		{"file, none given", &FileSource{}, 0, DefaultInterval},
		{"URL, none given", &HTTPSource{}, 0, DefaultURLInterval},
		{"URL, negative", &HTTPSource{}, -time.Second, DefaultURLInterval},
		{"other source, none given", &panickySource{}, 0, DefaultInterval},
		{"given", &HTTPSource{}, 5 * time.Second, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewWatcher(tc.src, new(Store), tc.interval, nil).interval; got != tc.want {
				t.Errorf("interval = %v, want %v", got, tc.want)
			}
		})
	}
}

// waitFor polls cond until it holds or the deadline passes, so tests do not
// depend on a fixed sleep being long enough.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func version(s *Store) int64 {
	if p := s.Load(); p != nil {
		return p.Version()
	}
	return 0
}

func TestWatcherRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	writeFile(t, path, feedV(1, "one"))
	var store Store
	w := NewWatcher(&FileSource{Path: path}, &store, 10*time.Millisecond, zap.NewNop())

	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(returned)
	}()

	waitFor(t, "the first feed", func() bool { return version(&store) == 1 })
	writeFile(t, path, feedV(2, "two"))
	waitFor(t, "the second feed", func() bool { return version(&store) == 2 })

	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// panickySource panics on its first Fetch, then serves a valid feed.
type panickySource struct {
	mu    sync.Mutex
	calls int
}

func (s *panickySource) Fetch(context.Context, Expect) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls == 1 {
		panic("boom")
	}
	return []byte(feedV(1, "one")), s.calls == 2, nil
}

func (s *panickySource) String() string { return "panicky" }

func TestWatcherRunRecoversFromPanic(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	var store Store
	w := NewWatcher(&panickySource{}, &store, 10*time.Millisecond, zap.New(core))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(returned)
	}()
	waitFor(t, "a feed after the panic", func() bool { return version(&store) == 1 })
	cancel()
	<-returned

	panics := logs.FilterMessage("policy feed refresh panicked").AllUntimed()
	if len(panics) != 1 {
		t.Fatalf("got %d panic log entries, want 1", len(panics))
	}
	fields := panics[0].ContextMap()
	if fields["panic"] != "boom" {
		t.Errorf("panic field = %v, want boom", fields["panic"])
	}
	if stack, _ := fields["stack"].(string); !strings.Contains(stack, "panickySource") {
		t.Errorf("stack field does not show where it panicked: %q", stack)
	}
}

// TestWatcherRefusalsWhileReading: a feed refused while it is read (too
// large, unsigned when a key is set) is a rejection like one by Load: it is
// logged as one, counted under the same reason (Changed with the error),
// leaves the feed in force, and is reported once while it stays.
func TestWatcherRefusalsWhileReading(t *testing.T) {
	k := keysOnce(t)
	path := filepath.Join(t.TempDir(), "policy.jws")
	core, logs := observer.New(zapcore.DebugLevel)
	var store Store
	w := NewWatcher(&FileSource{Path: path}, &store, time.Hour, zap.New(core))
	w.Verifier = ecVerifier(t)
	small := mustSign(t, feedV(1, "one"), k.ec, false)
	w.MaxSize = int64(len(small))
	var last Result
	w.OnResult = func(r Result) { last = r }

	steps := []struct {
		name    string
		write   string // "" leaves the file alone
		wantErr error
		want    Result
	}{
		{name: "signed feed", write: string(small), want: Result{Changed: true, Version: 1, Accepted: true}},
		{name: "unsigned feed", write: feedV(2, "two"), wantErr: ErrUnsigned, want: Result{Changed: true}},
		{name: "still unsigned: reported once", want: Result{}},
		{name: "too large", write: string(mustSign(t, feedV(2, "a longer slug"), k.ec, false)), wantErr: ErrTooLarge, want: Result{Changed: true}},
		{name: "still too large: reported once", want: Result{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.write != "" {
				writeFile(t, path, st.write)
			}
			err := w.Refresh(context.Background())
			if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
				t.Fatalf("Refresh = %v, want %v", err, st.wantErr)
			}
			got := last
			got.Err = nil
			if got != st.want {
				t.Errorf("OnResult got %+v, want %+v", got, st.want)
			}
			if v := version(&store); v != 1 {
				t.Errorf("version %d in force, want 1", v)
			}
		})
	}
	rejected := logs.FilterMessage("policy feed rejected; keeping the feed in force").Len()
	if rejected != 2 {
		t.Errorf("%d rejections logged, want 2", rejected)
	}
}

// TestLoadCacheBounded: the kept feed is read against the same bound as a
// fetched one.
func TestLoadCacheBounded(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "feed.cache")
	writeFile(t, cache, feedV(1, "one"))
	var store Store
	w := NewWatcher(&FileSource{Path: cache}, &store, time.Hour, nil)
	w.CachePath, w.MaxSize = cache, 10
	if err := w.LoadCache(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("LoadCache = %v, want ErrTooLarge", err)
	}
	if store.Load() != nil {
		t.Fatal("a cache over the bound was loaded")
	}
}
