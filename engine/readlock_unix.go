//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package engine

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockFileShared takes a shared lock on the existing file name without
// creating, truncating or touching it (Pebble's Lock creates the file with
// O_TRUNC, which sets its mtime). It conflicts with the exclusive lock
// Pebble's Lock takes, so a store a process has open cannot be read, nor
// opened while it is being read; several readers may hold it at once.
// Closing the returned file releases it.
func lockFileShared(name string) (io.Closer, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), sharedLockCmd, &lk); err != nil {
		f.Close()
		return nil, &lockHeldError{name: name, err: err}
	}
	return f, nil
}
