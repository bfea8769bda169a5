package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockFileShared takes a shared lock on the existing file name without
// creating, truncating or touching it (Pebble's Lock creates the file with
// O_TRUNC, which sets its mtime). The lock is an open file description
// lock: it conflicts with the record lock Pebble's Lock takes, even one
// this process holds, so a store open anywhere cannot be read, nor opened
// while it is being read; readers share it. Closing the returned file
// releases it.
//
// Closing any descriptor of a file releases every record lock the process
// holds on it, so a file this process has locked with Pebble's Lock is
// never opened here: that is found in /proc/locks first.
func lockFileShared(name string) (io.Closer, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		held, err := lockedHere(st.Ino)
		if err != nil {
			return nil, fmt.Errorf("engine: cannot tell whether this process holds %s: %w", name, err)
		}
		if held {
			return nil, &lockHeldError{name: name, err: errors.New("lock held by current process")}
		}
	}
	if afterLockCheck != nil {
		afterLockCheck()
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		keepOrClose(f)
		return nil, &lockHeldError{name: name, err: err}
	}
	return f, nil
}

// afterLockCheck, if set, runs between the look at /proc/locks and the
// lock call (tests: a writable open of this process taking the lock then).
var afterLockCheck func()

// kept holds the descriptors keepOrClose must not close.
var kept struct {
	sync.Mutex
	files []*os.File
}

// keepOrClose closes f, a descriptor whose lock failed, unless this process
// has come to hold a record lock on its file since the look at /proc/locks
// (a writable open racing the reader): closing f would release that lock.
// Such a descriptor stays open for the life of the process.
func keepOrClose(f *os.File) {
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if held, err := lockedHere(st.Ino); err != nil || held {
				kept.Lock()
				kept.files = append(kept.files, f)
				kept.Unlock()
				return
			}
		}
	}
	f.Close()
}

// lockedHere reports whether this process holds a record (POSIX) lock on
// a file with inode ino, by /proc/locks: "1: POSIX ADVISORY WRITE pid
// maj:min:ino start end". (A lock on another device's file of the same
// inode number makes it answer yes: the caller then refuses, harmlessly.)
func lockedHere(ino uint64) (bool, error) {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return false, err
	}
	defer f.Close()
	pid := strconv.Itoa(os.Getpid())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "POSIX" || fields[4] != pid {
			continue // a waiter ("->") or another process's lock
		}
		id := fields[5]
		if i := strings.LastIndexByte(id, ':'); i >= 0 && id[i+1:] == strconv.FormatUint(ino, 10) {
			return true, nil
		}
	}
	return false, sc.Err()
}
