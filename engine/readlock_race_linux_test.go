package engine

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestReadOnlyLockRacingWritableLock: a writable open of this process may
// take Pebble's record lock between a reader's look at /proc/locks and its
// own lock call. The reader's lock then fails, and closing the descriptor
// it opened would release the writer's lock (a record lock belongs to the
// process): the store would be open for writing with no lock held.
func TestReadOnlyLockRacingWritableLock(t *testing.T) {
	name := filepath.Join(t.TempDir(), lockFile)
	noErr(t, os.WriteFile(name, nil, 0o600))
	var writer interface{ Close() error }
	afterLockCheck = func() {
		l, err := vfs.Default.Lock(name)
		noErr(t, err)
		writer = l
	}
	defer func() { afterLockCheck = nil }()
	if l, err := lockFileShared(name); err == nil {
		l.Close()
		t.Fatal("a shared lock succeeded while this process held the record lock")
	}
	if writer == nil {
		t.Fatal("the hook did not run")
	}
	defer writer.Close()
	fi, err := os.Stat(name)
	noErr(t, err)
	if held, err := lockedHere(fi.Sys().(*syscall.Stat_t).Ino); err != nil || !held {
		t.Errorf("the writer's lock on %s was released by a reader's failed lock (err %v)", name, err)
	}
}
