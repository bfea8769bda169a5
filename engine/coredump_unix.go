//go:build unix

package engine

import "golang.org/x/sys/unix"

// disableCoreDumps sets the soft RLIMIT_CORE to 0, so a crash does not write
// the data keys in memory to a core file. It is process-wide and is not
// restored at Close: another FS, or the same store reopened, may still hold
// keys. The hard limit is left alone, so an operator who needs a core can
// still raise it on purpose.
func disableCoreDumps() error {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &l); err != nil {
		return err
	}
	if l.Cur == 0 {
		return nil
	}
	l.Cur = 0
	return unix.Setrlimit(unix.RLIMIT_CORE, &l)
}
