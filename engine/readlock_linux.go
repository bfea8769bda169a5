package engine

import "golang.org/x/sys/unix"

// sharedLockCmd: an open file description lock conflicts with Pebble's
// record lock even when this process holds that one (a store open in this
// process too).
const sharedLockCmd = unix.F_OFD_SETLK
