package policyfeed

import (
	"context"
	"crypto/sha256"
	"fmt"
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
// A file larger than the Expect's bound is refused from its size, without
// being read, and one whose first bytes show it is the wrong kind of feed
// is refused after them.
type FileSource struct {
	// Path is the feed file.
	Path string

	mu sync.Mutex
	// sum is the hash of the last successful read, or refusalSum of the
	// last refusal.
	sum  [sha256.Size]byte
	read bool // whether sum is set
}

// Fetch reads the file and reports whether its contents differ from the
// last successful Fetch. A missing or unreadable file is an error that
// names the path.
func (f *FileSource) Fetch(ctx context.Context, exp Expect) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	data, err := readFeedFile(f.Path, exp)
	if err != nil && !isRefusal(err) {
		return nil, false, fmt.Errorf("policy feed file: %w", err)
	}
	var sum [sha256.Size]byte
	if err != nil {
		err = fmt.Errorf("policy feed file: %w", err)
		sum = refusalSum(err)
	} else {
		sum = sha256.Sum256(data)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.read && sum == f.sum {
		return nil, false, nil
	}
	f.sum, f.read = sum, true
	return data, err == nil, err
}

// String returns the path, to name the source in logs.
func (f *FileSource) String() string { return f.Path }

// readFeedFile is os.ReadFile read against exp (see readFeed). The size is
// taken from the open file, not the path, so that a rename between the two
// cannot slip a larger file past it; it is only known for a regular file
// (a device or a pipe is read against the bound instead). Errors name the
// path.
func readFeedFile(path string, exp Expect) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	data, err := readFeed(fh, size, exp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}
