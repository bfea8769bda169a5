//go:build unix

package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the user and system CPU time of the whole process,
// every thread included: Pebble's background flushes and compactions are
// part of what a workload costs.
func processCPU() (user, sys time.Duration, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), true
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
}
