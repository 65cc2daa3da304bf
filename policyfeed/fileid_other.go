//go:build !(dragonfly || linux || openbsd || solaris || darwin || freebsd || netbsd)

package policyfeed

import "io/fs"

// fileIDOf has no change time to go by here (on Windows, os.Stat does not
// return one), and size and mtime alone are not trusted: every poll reads
// the file.
func fileIDOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }
