package engine

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestReadOnlyLockOnWrappedDisk: on a wrapped disk FS (CockroachDB always
// wraps vfs.Default with disk health checks), a read-only open must behave
// as on vfs.Default: refused while this process has the store open, under
// any spelling of its path, and never releasing the writable FS's lock
// (Pebble's Lock would take the record lock again in this process and
// its close would drop it), nor truncating TDE-LOCK (its mtime).
func TestReadOnlyLockOnWrappedDisk(t *testing.T) {
	s := newROStore(t, "clean")
	wrapped, closer := vfs.WithDiskHealthChecks(vfs.Default, time.Minute, nil, func(vfs.DiskSlowInfo) {})
	defer closer.Close()
	wcfg := s.cfg
	wcfg.ReadOnly = false

	lockName := filepath.Join(s.dir, lockFile)
	before, err := os.Stat(lockName)
	noErr(t, err)
	time.Sleep(20 * time.Millisecond) // a truncation would show in the mtime
	r := mustOpen(t, wrapped, s.dir, s.cfg)
	mustClose(t, r)
	after, err := os.Stat(lockName)
	noErr(t, err)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a read-only open on a wrapped disk FS changed %s's mtime: %v -> %v", lockFile, before.ModTime(), after.ModTime())
	}

	w := mustOpen(t, vfs.Default, s.dir, wcfg)
	defer mustClose(t, w)
	link := filepath.Join(t.TempDir(), "link")
	noErr(t, os.Symlink(s.dir, link))
	if r, err := Open(wrapped, link, s.cfg); err == nil {
		t.Error("a read-only open through a wrapped disk FS succeeded while this process had the store open")
		mustClose(t, r)
	}
	fi, err := os.Stat(lockName)
	noErr(t, err)
	if held, err := lockedHere(fi.Sys().(*syscall.Stat_t).Ino); err != nil || !held {
		t.Errorf("%s no longer locked by the writable FS after a reader on a wrapped disk FS came and went (err %v)", lockFile, err)
	}
}
