//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package policyfeed

import (
	"syscall"
	"time"
)

// cpuTime is the CPU the process has used, user and system, so that a
// benchmark can report what a poll costs in CPU rather than wall time: the
// kernel's copy of a file into the page cache reader is system time, and the
// garbage collector runs on other threads.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
