package policyfeed

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// FileSource reads the feed from a local file.
//
// A poll opens the file and takes its identity from the open descriptor:
// device, inode, size, modification time and change time (ctime). While
// that identity is the one of the last read, the file is not read again,
// so polling an unchanged feed costs an open, an fstat and a close however
// large it is, where reading and hashing 200 MB cost a fifth of a second
// of CPU at every poll. The file is opened rather than stat'ed by path so
// that NFS revalidates its attributes as it does on open (close-to-open),
// and so that what is read is the file whose identity was taken.
//
// Size and mtime alone are not trusted: mtimes can be coarse, and copy
// tools that preserve them (cp -p, rsync -t, tar) can replace a file's
// contents with others of the same size and mtime. The ctime is what
// makes the identity safe: the kernel sets it to the current time on
// every write, truncation, chmod or utimes, and no system call sets it
// back. A rename over the path (an atomic replace, a Kubernetes ConfigMap
// swapping its symlink) brings another inode. Two writes in one timestamp
// granule would still look like one, so a file changed within racyWindow
// of a poll is read at every poll until it is older than that. Where the
// platform gives no ctime (Windows, Plan 9), every poll reads the file.
//
// After a read, contents are compared by hash: rewriting a file with
// identical bytes (or touching it) is not a change. A file larger than the
// Expect's bound is refused from its size, without being read, and one
// whose first bytes show it is the wrong kind of feed is refused after
// them; an unchanged file is not read again after a refusal either, as the
// same bytes would be refused the same way.
type FileSource struct {
	// Path is the feed file.
	Path string

	mu sync.Mutex
	// sum is the hash of the last successful read, or refusalSum of the
	// last refusal.
	sum  [sha256.Size]byte
	read bool // whether sum is set
	// id is the identity of the file that sum was taken of, read
	// against exp; settled says that it can stand for the contents (see
	// fileID.settled), and is false when the platform has no identity.
	id      fileID
	exp     Expect
	settled bool
}

// racyWindow is how long ago a file must have last changed, at the poll
// that reads it, for its identity to stand for its contents afterwards.
// Timestamps come in granules: a kernel tick on ext4, XFS, btrfs or tmpfs,
// a second on ext3 or HFS+, two seconds on FAT; a second write of the same
// size in the granule of the one that was read leaves the identity as it
// was (git calls such an index entry "racily clean"). Once the granule has
// passed, any write moves the times. Three seconds covers FAT's two and
// the lag of the kernel's coarse clock behind time.Now. On a network file
// system the times are the server's, so its clock must be within about a
// second of this one for a same-size rewrite made in the second after a
// read to be seen.
const racyWindow = 3 * time.Second

// fileClock is the clock racyWindow is measured on: the wall clock the
// file system stamps files with, not the policy clock now. Tests move it
// ahead to make a file just written look settled.
var fileClock = time.Now

// fileID is what a poll compares instead of the contents. Times are in
// nanoseconds since the epoch.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// settled reports whether the file last changed longer than racyWindow
// before t, so that a later change must move its times. A time in the
// future (a clock set back, an mtime set ahead with touch -d) is not
// settled, and the file is read at every poll.
func (id fileID) settled(t time.Time) bool {
	before := t.Add(-racyWindow).UnixNano()
	return id.mtime < before && id.ctime < before
}

// Fetch reads the file unless its identity is the one of the last read,
// and reports whether its contents differ from the last successful Fetch.
// A missing or unreadable file is an error that names the path.
func (f *FileSource) Fetch(ctx context.Context, exp Expect) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	// Taken before the fstat: any write after the fstat is stamped at or
	// after this.
	polled := fileClock()
	fh, fi, err := openFeedFile(f.Path)
	if err != nil {
		return nil, false, fmt.Errorf("policy feed file: %w", err)
	}
	defer fh.Close()
	id, settled := fileIDOf(fi)
	settled = settled && id.settled(polled)
	if settled && f.unchanged(id, exp) {
		return nil, false, nil
	}
	data, err := readOpenFeedFile(fh, fi, f.Path, exp)
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
	f.id, f.exp, f.settled = id, exp, settled
	if f.read && sum == f.sum {
		return nil, false, nil
	}
	f.sum, f.read = sum, true
	return data, err == nil, err
}

// unchanged reports whether id is the settled identity of the last read,
// made against the same Expect: another bound or key could decide
// otherwise on the same bytes.
func (f *FileSource) unchanged(id fileID, exp Expect) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read && f.settled && f.id == id && f.exp == exp
}

// String returns the path, to name the source in logs.
func (f *FileSource) String() string { return f.Path }

// readFeedFile is os.ReadFile read against exp (see readOpenFeedFile).
// Errors name the path.
func readFeedFile(path string, exp Expect) ([]byte, error) {
	fh, fi, err := openFeedFile(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return readOpenFeedFile(fh, fi, path, exp)
}

// openFeedFile opens path and stats the open file, refusing a directory.
// Errors name the path.
func openFeedFile(path string) (*os.File, fs.FileInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	if fi.IsDir() {
		fh.Close()
		return nil, nil, fmt.Errorf("%s is a directory", path)
	}
	return fh, fi, nil
}

// readOpenFeedFile reads fh, opened from path and stat'ed as fi, against
// exp (see readFeed). The size is taken from the open file, not the path,
// so that a rename between the two cannot slip a larger file past it; it
// is only known for a regular file (a device or a pipe is read against the
// bound instead). Errors name the path.
func readOpenFeedFile(fh *os.File, fi fs.FileInfo, path string, exp Expect) ([]byte, error) {
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
