//go:build unix

package engine

import "golang.org/x/sys/unix"

// lowerCoreLimit sets the soft RLIMIT_CORE to 0, so a crash does not write
// the process's memory to a core file. The hard limit is left alone, so an
// operator who needs a core can still raise it on purpose.
func lowerCoreLimit() error {
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
