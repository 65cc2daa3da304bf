package policyfeed

import (
	"context"
	"errors"
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
