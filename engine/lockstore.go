package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/pebblefile"
)

// The store lock: offline work on a store (tdectl's commands, ReencryptAll)
// takes Pebble's own LOCK file first, so that no Pebble DB opens the store
// meanwhile. tde's TDE-LOCK (paths.go) guards the engine's files against a
// second FS; this one guards the whole store against Pebble.

// PebbleLockFile is the name of the lock file Pebble holds in a store
// directory while a DB is open on it.
const PebbleLockFile = pebblefile.Lock

// StoreInUseError reports a store whose Pebble LOCK another process (or
// another DB of this process) holds. It matches ErrStoreInUse.
type StoreInUseError struct {
	Dir  string // the store directory
	Lock string // its LOCK file
	Err  error  // what the lock call said
}

func (e *StoreInUseError) Error() string {
	return fmt.Sprintf("engine: store %s is in use: another process holds %s (stop the program using the store first, or use its online API): %v",
		e.Dir, e.Lock, e.Err)
}

func (e *StoreInUseError) Unwrap() []error { return []error{ErrStoreInUse, e.Err} }

// LockStore takes Pebble's LOCK file in the store directory dir, as
// pebble.Open does, and returns it held: while it is, no Pebble DB can open
// the store (cockroach#98294: offline tools must take it before touching a
// store). Take it before Open for any offline work on a store (Open itself
// may rotate data keys and rewrite the file dictionary) and close it after
// the FS.
//
// A lock held elsewhere is a *StoreInUseError matching ErrStoreInUse that
// names the store. A directory that does not exist is an error matching
// os.ErrNotExist; dir is never created. A store whose LOCK file cannot be
// created or opened gets that error, naming the file.
func LockStore(base vfs.FS, dir string) (io.Closer, error) {
	dir = filepath.Clean(dir)
	if err := checkStoreDir(base, dir); err != nil {
		return nil, err
	}
	name := base.PathJoin(dir, PebbleLockFile)
	l, err := base.Lock(name)
	if err == nil {
		return l, nil
	}
	return nil, lockFailed(dir, name, err)
}

// LockStoreReadOnly is LockStore for reading a store (tdectl status and
// dump): it takes Pebble's LOCK shared, so no Pebble can open the store
// meanwhile, without creating the file or changing its mtime (every Pebble
// store has it; a directory without one has nothing to lock). A lock held
// elsewhere is a *StoreInUseError matching ErrStoreInUse; a missing
// directory is an error matching os.ErrNotExist.
func LockStoreReadOnly(base vfs.FS, dir string) (io.Closer, error) {
	dir = filepath.Clean(dir)
	if err := checkStoreDir(base, dir); err != nil {
		return nil, err
	}
	name := base.PathJoin(dir, PebbleLockFile)
	l, err := sharedLock(base, name, true)
	if err != nil {
		return nil, lockFailed(dir, name, err)
	}
	return l, nil
}

// checkStoreDir makes sure dir exists and is a directory.
func checkStoreDir(base vfs.FS, dir string) error {
	fi, err := base.Stat(dir)
	switch {
	case oserror.IsNotExist(err):
		return fmt.Errorf("engine: store directory %s does not exist: %w", dir, os.ErrNotExist)
	case err != nil:
		return fmt.Errorf("engine: store directory %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("engine: store directory %s is not a directory", dir)
	}
	return nil
}

// lockFailed is the error for a failed lock of name, a lock file of the
// store in dir: a *StoreInUseError when another holder has it, otherwise
// the error naming the store. Creating or opening the file fails with a
// *PathError (permissions, a read-only disk); a lock held elsewhere fails
// in fcntl (EAGAIN, EACCES), in Pebble's own check for this process, or
// in a reader's shared lock (lockHeldError).
func lockFailed(dir, name string, err error) error {
	var held *lockHeldError
	if errors.As(err, &held) {
		return &StoreInUseError{Dir: dir, Lock: name, Err: held.err}
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("engine: cannot lock store %s: %w", dir, err)
	}
	return &StoreInUseError{Dir: dir, Lock: name, Err: err}
}
