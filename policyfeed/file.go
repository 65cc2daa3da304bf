package policyfeed

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
)

// FileSource reads the feed from a local file, re-read on every Fetch.
//
// It compares contents rather than trusting size and modification time:
// mtimes can be coarse, and copy tools that preserve them (cp -p, rsync -t,
// tar) can replace a file with one of the same size and mtime. Reading and
// hashing a feed of a few megabytes every interval costs milliseconds.
// Rewriting a file with identical bytes (or touching it) is not a change.
type FileSource struct {
	// Path is the feed file.
	Path string

	// maxSize overrides maxFeedSize in tests.
	maxSize int64

	mu   sync.Mutex
	sum  [sha256.Size]byte // of the last successful read
	read bool              // whether sum is set
}

// Fetch reads the file and reports whether its contents differ from the
// last successful Fetch. A missing or unreadable file is an error that
// names the path.
func (f *FileSource) Fetch(ctx context.Context) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	limit := f.maxSize
	if limit <= 0 {
		limit = maxFeedSize
	}
	data, err := readFeedFile(f.Path, limit)
	if err != nil {
		return nil, false, fmt.Errorf("policy feed file: %w", err)
	}
	sum := sha256.Sum256(data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.read && sum == f.sum {
		return nil, false, nil
	}
	f.sum, f.read = sum, true
	return data, true, nil
}

// String returns the path, to name the source in logs.
func (f *FileSource) String() string { return f.Path }

// readFeedFile is os.ReadFile with a size bound. Errors from os already
// carry the path.
func readFeedFile(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
