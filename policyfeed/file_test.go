package policyfeed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	src := &FileSource{Path: path}
	ctx := context.Background()

	// Steps run in order against one file and one source.
	steps := []struct {
		name        string
		change      func(t *testing.T)
		wantChanged bool
		wantData    string
		wantErr     error
	}{
		{
			name:    "missing file",
			change:  func(t *testing.T) {},
			wantErr: fs.ErrNotExist,
		},
		{
			name:        "first read is a change",
			change:      func(t *testing.T) { writeFile(t, path, `{"version":1}`) },
			wantChanged: true,
			wantData:    `{"version":1}`,
		},
		{
			name:   "unchanged file",
			change: func(t *testing.T) {},
		},
		{
			name: "same bytes rewritten with a new mtime",
			change: func(t *testing.T) {
				writeFile(t, path, `{"version":1}`)
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(path, later, later); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "same size and mtime, different bytes",
			change: func(t *testing.T) {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, `{"version":2}`)
				if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			},
			wantChanged: true,
			wantData:    `{"version":2}`,
		},
		{
			name:    "removed file",
			change:  func(t *testing.T) { os.Remove(path) },
			wantErr: fs.ErrNotExist,
		},
		{
			name:   "restored with the bytes last read",
			change: func(t *testing.T) { writeFile(t, path, `{"version":2}`) },
		},
		{
			name:    "directory",
			change:  func(t *testing.T) { os.Remove(path); os.Mkdir(path, 0o700) },
			wantErr: errAny,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			data, changed, err := src.Fetch(ctx, Expect{})
			if st.wantErr != nil {
				if err == nil || (st.wantErr != errAny && !errors.Is(err, st.wantErr)) {
					t.Fatalf("Fetch err = %v, want %v", err, st.wantErr)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("Fetch err = %q, want it to name %s", err, path)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if changed != st.wantChanged {
				t.Errorf("changed = %v, want %v", changed, st.wantChanged)
			}
			if changed && string(data) != st.wantData {
				t.Errorf("data = %q, want %q", data, st.wantData)
			}
		})
	}
}

// errAny marks a step that wants some error, whatever it wraps.
var errAny = errors.New("any error")

func TestFileSourceTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.json")
	writeFile(t, path, `{"version":1}`)
	tests := []struct {
		name    string
		limit   int64
		wantErr bool
	}{
		{name: "one byte over", limit: 12, wantErr: true},
		{name: "exactly at the limit", limit: 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := (&FileSource{Path: path}).Fetch(context.Background(), Expect{MaxSize: tt.limit})
			if tt.wantErr != (err != nil) || (err != nil && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than 12 bytes"))) {
				t.Errorf("Fetch = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestFileSourceRefusesUnread: a feed path pointed at something huge (a
// disk image, a log that grew, a sparse file) must not be read into memory
// to learn that it is no feed. A file over the bound is refused from its
// size, and one under it whose first bytes are neither JSON nor a JWS is
// refused after them. The files are sparse: their zeros cost no disk.
func TestFileSourceRefusesUnread(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, size int64) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return path
	}
	v := ecVerifier(t)
	tests := []struct {
		name    string
		path    string
		exp     Expect
		wantErr error
		wantMsg string
	}{
		{"900 MB file, default bound", sparse("big.jws", 900_000_000), Expect{Verifier: v}, ErrTooLarge, "900000000 bytes, larger than 268435456 bytes"},
		{"900 MB file, no key", sparse("big.json", 900_000_000), Expect{}, ErrTooLarge, "larger than 268435456 bytes"},
		{"200 MB of zeros with a key", sparse("zeros.jws", 200_000_000), Expect{Verifier: v}, ErrBadSignature, "byte 0 starts neither JSON nor a compact JWS"},
		{"200 MB of zeros without one", sparse("zeros.json", 200_000_000), Expect{}, ErrInvalidFeed, "byte 0 starts neither JSON nor a compact JWS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			grew := allocated(func() { _, _, err = (&FileSource{Path: tc.path}).Fetch(context.Background(), tc.exp) })
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Fetch = %v, want %v with %q naming the path", err, tc.wantErr, tc.wantMsg)
			}
			if grew > 1<<20 {
				t.Errorf("refusing allocated %d bytes, want less than 1 MiB", grew)
			}
		})
	}
}

func TestFileSourceCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := (&FileSource{Path: filepath.Join(t.TempDir(), "x")}).Fetch(ctx, Expect{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch = %v, want context.Canceled", err)
	}
}

// paddedFeed is a feed of version v padded to size bytes, so that two
// versions have the same size and a read shows in the bytes allocated.
func paddedFeed(v, size int) string {
	head := fmt.Sprintf(`{"version":%d,"enterprise":{"slug":"`, v)
	return head + strings.Repeat("x", size-len(head)-len(`"}}`)) + `"}}`
}

// TestFileSourceSkipsUnchanged: a poll reads the file only when its
// identity (device, inode, size, mtime, ctime) moved since the last read.
// The file system clock is moved an hour ahead so that files written a
// moment ago are past racyWindow; what a poll read is told by the bytes
// it allocated, against a feed of 1 MiB. The steps share one source and
// run in order. The path is a symlink into a data directory, as in a
// Kubernetes ConfigMap volume.
func TestFileSourceSkipsUnchanged(t *testing.T) {
	defer func(c func() time.Time) { fileClock = c }(fileClock)
	fileClock = func() time.Time { return time.Now().Add(time.Hour) }

	const size = 1 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	target := filepath.Join(dir, "data-1", "policy.json")
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	src := &FileSource{Path: path}
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	// replace writes content beside target and renames it over target,
	// with target's mtime: only the inode tells the new file apart.
	replace := func(t *testing.T, content string) {
		fi, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		tmp := target + ".tmp"
		writeFile(t, tmp, content)
		if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, target); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name        string
		change      func(t *testing.T)
		exp         Expect
		wantRead    bool
		wantChanged bool
		wantVersion int // of the data returned when changed
		wantErr     error
	}{
		{
			name:        "first read",
			change:      func(t *testing.T) { writeFile(t, target, paddedFeed(1, size)) },
			wantRead:    true,
			wantChanged: true,
			wantVersion: 1,
		},
		{
			name:   "unchanged file is not read",
			change: func(t *testing.T) {},
		},
		{
			name: "touched: read, the same bytes",
			change: func(t *testing.T) {
				if err := os.Chtimes(target, past, past); err != nil {
					t.Fatal(err)
				}
			},
			wantRead: true,
		},
		{
			name:   "touched file is not read again",
			change: func(t *testing.T) {},
		},
		{
			// cp -p, rsync -t and tar put the mtime back; they
			// cannot put back the ctime.
			name: "rewritten in place, same size, mtime put back",
			change: func(t *testing.T) {
				writeFile(t, target, paddedFeed(2, size))
				if err := os.Chtimes(target, past, past); err != nil {
					t.Fatal(err)
				}
			},
			wantRead:    true,
			wantChanged: true,
			wantVersion: 2,
		},
		{
			name:        "renamed over, same size and mtime",
			change:      func(t *testing.T) { replace(t, paddedFeed(3, size)) },
			wantRead:    true,
			wantChanged: true,
			wantVersion: 3,
		},
		{
			name:     "renamed over with the same bytes",
			change:   func(t *testing.T) { replace(t, paddedFeed(3, size)) },
			wantRead: true,
		},
		{
			name: "symlink swapped to another data directory",
			change: func(t *testing.T) {
				fi, err := os.Stat(target)
				if err != nil {
					t.Fatal(err)
				}
				target = filepath.Join(dir, "data-2", "policy.json")
				if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, target, paddedFeed(4, size))
				if err := os.Chtimes(target, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, path+".tmp"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path+".tmp", path); err != nil {
					t.Fatal(err)
				}
			},
			wantRead:    true,
			wantChanged: true,
			wantVersion: 4,
		},
		{
			name:   "unchanged after the swap",
			change: func(t *testing.T) {},
		},
		{
			name:    "a smaller bound is not answered from the last read",
			change:  func(t *testing.T) {},
			exp:     Expect{MaxSize: size / 2},
			wantErr: ErrTooLarge,
		},
		{
			name:   "the same refusal is reported once",
			change: func(t *testing.T) {},
			exp:    Expect{MaxSize: size / 2},
		},
		{
			name:        "back to the default bound: read again",
			change:      func(t *testing.T) {},
			wantRead:    true,
			wantChanged: true,
			wantVersion: 4,
		},
		{
			name: "grown",
			change: func(t *testing.T) {
				writeFile(t, target, paddedFeed(5, size+1))
				if err := os.Chtimes(target, past, past); err != nil {
					t.Fatal(err)
				}
			},
			wantRead:    true,
			wantChanged: true,
			wantVersion: 5,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			var data []byte
			var changed bool
			var err error
			grew := allocated(func() { data, changed, err = src.Fetch(context.Background(), st.exp) })
			if st.wantErr != nil || err != nil {
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("Fetch err = %v, want %v", err, st.wantErr)
				}
				return
			}
			if read := grew >= size; read != st.wantRead {
				t.Errorf("allocated %d bytes: read = %v, want %v", grew, read, st.wantRead)
			}
			if changed != st.wantChanged {
				t.Fatalf("changed = %v, want %v", changed, st.wantChanged)
			}
			if want := fmt.Sprintf(`{"version":%d,`, st.wantVersion); changed && !bytes.HasPrefix(data, []byte(want)) {
				t.Errorf("data starts %q, want %q", data[:min(len(data), 20)], want)
			}
		})
	}
}

// TestFileSourceRacy: with the real clock, a file written a moment ago is
// read at every poll, for a second write of the same size in the same
// timestamp granule would leave its identity as it was.
func TestFileSourceRacy(t *testing.T) {
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "policy.json")
	writeFile(t, path, paddedFeed(1, size))
	src := &FileSource{Path: path}
	for i, wantChanged := range []bool{true, false, false} {
		var changed bool
		var err error
		grew := allocated(func() { _, changed, err = src.Fetch(context.Background(), Expect{}) })
		if err != nil || changed != wantChanged {
			t.Fatalf("poll %d: changed %v, %v; want %v", i, changed, err, wantChanged)
		}
		if grew < size {
			t.Errorf("poll %d allocated %d bytes: the new file was not read", i, grew)
		}
	}
}

func TestFileIDSettled(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) int64 { return at.Add(-d).UnixNano() }
	tests := []struct {
		name         string
		mtime, ctime int64
		want         bool
	}{
		{"changed an hour ago", ago(time.Hour), ago(time.Hour), true},
		{"mtime put back, changed just now", ago(time.Hour), ago(time.Second), false},
		{"changed just inside the window", ago(racyWindow - time.Nanosecond), ago(racyWindow - time.Nanosecond), false},
		{"changed exactly racyWindow ago", ago(racyWindow), ago(racyWindow), false},
		{"changed just before the window", ago(racyWindow + time.Nanosecond), ago(racyWindow + time.Nanosecond), true},
		{"mtime set in the future", ago(-time.Hour), ago(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (fileID{mtime: tc.mtime, ctime: tc.ctime}).settled(at); got != tc.want {
				t.Errorf("settled = %v, want %v", got, tc.want)
			}
		})
	}
}

// writeBigFeed writes a feed file of about size bytes: a JSON object whose
// padding is one repeated record, which costs the old read-and-hash poll as
// much as a real feed of that size would.
func writeBigFeed(tb testing.TB, path string, size int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	record := []byte(`{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "owner": "carol", "organizations": {"octo-org": "approved"}},`)
	chunk := bytes.Repeat(record, (1<<20)/len(record))
	if _, err := f.WriteString(`{"version": 1, "padding": [`); err != nil {
		tb.Fatal(err)
	}
	for written := 0; written < size; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := f.WriteString(`{}]}`); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkFileSourcePoll is the watcher's steady state: polling a 200 MB
// feed file that has not changed. It reports the CPU a poll costs
// (cpu-ns/op, user and system time of the whole process, GC included)
// next to the wall time and the bytes allocated.
func BenchmarkFileSourcePoll(b *testing.B) {
	path := filepath.Join(b.TempDir(), "policy.json")
	writeBigFeed(b, path, 200<<20)
	src := &FileSource{Path: path}
	ctx := context.Background()
	if _, changed, err := src.Fetch(ctx, Expect{}); err != nil || !changed {
		b.Fatalf("first Fetch: changed %v, %v", changed, err)
	}
	// A file changed less than racyWindow ago is read at every poll, and
	// so is the first poll after that; the steady state is a file older
	// than that, polled once since.
	time.Sleep(racyWindow + time.Second)
	if _, changed, err := src.Fetch(ctx, Expect{}); err != nil || changed {
		b.Fatalf("Fetch after the window: changed %v, %v", changed, err)
	}
	b.ReportAllocs()
	cpu0, cpuOK := cpuTime()
	n := 0
	for b.Loop() {
		_, changed, err := src.Fetch(ctx, Expect{})
		if err != nil || changed {
			b.Fatalf("Fetch: changed %v, %v", changed, err)
		}
		n++
	}
	if cpu1, ok := cpuTime(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(n), "cpu-ns/op")
	}
}
