//go:build darwin || dragonfly || freebsd || netbsd || openbsd || solaris

package engine

import "golang.org/x/sys/unix"

// sharedLockCmd: a record lock, which does not see a lock this process
// holds itself.
const sharedLockCmd = unix.F_SETLK
