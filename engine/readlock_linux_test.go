package engine

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestReadOnlyLocks: readers share the locks; a reader and a writable
// open exclude each other, in one process too; and a reader that finds
// the lock held by this process leaves it held (closing a descriptor of
// the file would release it).
func TestReadOnlyLocks(t *testing.T) {
	s := newROStore(t, "clean")
	wcfg := s.cfg
	wcfg.ReadOnly, wcfg.MasterKey = false, s.cfg.MasterKey

	r1 := mustOpen(t, vfs.Default, s.dir, s.cfg)
	r2 := mustOpen(t, vfs.Default, s.dir, s.cfg)
	l1, err := LockStoreReadOnly(vfs.Default, s.dir)
	noErr(t, err)
	l2, err := LockStoreReadOnly(vfs.Default, s.dir)
	noErr(t, err)
	if _, err := Open(vfs.Default, s.dir, wcfg); err == nil {
		t.Fatal("a writable open succeeded while readers held the store")
	}
	if _, err := LockStore(vfs.Default, s.dir); !errors.Is(err, ErrStoreInUse) {
		t.Fatalf("LockStore while readers held LOCK: %v", err)
	}
	mustClose(t, r1)
	mustClose(t, r2)
	noErr(t, errors.Join(l1.Close(), l2.Close()))

	w := mustOpen(t, vfs.Default, s.dir, wcfg)
	pl, err := LockStore(vfs.Default, s.dir)
	noErr(t, err)
	if _, err := Open(vfs.Default, s.dir, s.cfg); err == nil {
		t.Fatal("a read-only open succeeded while this process had the store open")
	}
	if _, err := LockStoreReadOnly(vfs.Default, s.dir); !errors.Is(err, ErrStoreInUse) {
		t.Fatalf("LockStoreReadOnly while this process held LOCK: %v", err)
	}
	for _, name := range []string{lockFile, PebbleLockFile} {
		fi, err := os.Stat(filepath.Join(s.dir, name))
		noErr(t, err)
		if held, err := lockedHere(fi.Sys().(*syscall.Stat_t).Ino); err != nil || !held {
			t.Errorf("%s no longer locked after a reader was refused: %v", name, err)
		}
	}
	noErr(t, pl.Close())
	mustClose(t, w)
}
