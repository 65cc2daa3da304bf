//go:build dragonfly || linux || openbsd || solaris

package policyfeed

import (
	"io/fs"
	"syscall"
)

// fileIDOf returns a regular file's identity; false for any other kind of
// file, whose size and times say nothing of what a read would return.
func fileIDOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fileID{}, false
	}
	sec, nsec := st.Ctim.Unix()
	return fileID{
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		ctime: sec*1e9 + nsec,
	}, true
}
