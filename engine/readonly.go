package engine

import (
	"context"
	"io"
	"os"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// A read-only FS (Config.ReadOnly) is for looking at a store: tdectl status
// and dump. Its Open changes nothing on disk and creates no file: it
// replays the dictionary and reconciles it with the directory in memory
// only (a torn tail, moves undone, entries collected and an interrupted
// epoch stay for the next writable open to record), opens the registry
// read-only (the master key is still verified; a stale key is not rotated,
// a registry under the previous master key not rewrapped), takes TDE-LOCK
// only if the file exists, and starts no epoch, no rotation, no removal of
// leftovers and no dropping of keys. Every write-side method fails with
// ErrReadOnly; Open for reading, Stat, List, Files, Status and DataKeyHex
// work, and so does Lock (of Pebble's LOCK, which a Pebble store has, with
// no dictionary record), so Pebble can open the store with its ReadOnly
// option. The process is still made non-dumpable first: the keys are in
// memory all the same.

// openReadOnly is Open for Config.ReadOnly. It mirrors Open's reads, in
// the same order, and none of its writes.
func openReadOnly(base vfs.FS, dir string, cfg Config) (*FS, error) {
	ctx := context.Background()
	f := newFS(base, dir, cfg)
	ok := false
	defer func() {
		if !ok {
			f.abandon()
		}
	}()

	// Readers do not claim the store (storeid.go): they share it with each
	// other, and their locks exclude a writer, in this process too. A
	// store that lost its dictionary is refused as Open refuses it
	// (failclosed.go).
	if err := checkMetadata(base, f.dir); err != nil {
		return nil, err
	}
	if err := f.lockReadOnly(); err != nil {
		return nil, err
	}
	if f.mayHoldKeys() {
		f.protectProcess() // before the first key byte is read, as Open
	}
	prev, closePrev, err := f.loadMasterKeys(ctx)
	if err != nil {
		return nil, err
	}
	// Only its description outlives Open, if the registry is wrapped
	// under it (Status names it).
	defer closePrev()

	f.metrics = newMetrics(f)
	f.dict, err = readDictionary(base, f.dir, dictOptions{
		RewriteThreshold: cfg.DictionaryRewriteThreshold,
		Logger:           f.log,
		Dirs:             f.dirs,
	})
	if err != nil {
		return nil, err
	}
	if err := f.refuseUnapproved(); err != nil { // fips.go
		return nil, err
	}
	if err := f.checkRegistry(); err != nil {
		return nil, err
	}
	if err := f.dict.inspect(); err != nil {
		return nil, err
	}
	f.reg, err = keys.OpenRegistry(ctx, f.keysFS(), f.dir, f.registryConfig(prev))
	if err != nil {
		return nil, err
	}
	f.keys = newKeyCache(f.reg)
	if err := f.metrics.register(cfg.Metrics); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// lockReadOnly takes TDE-LOCK shared if it exists, so no writable open
// (in this process or another) changes the store while it is being read;
// it never creates it, nor the store directory.
func (f *FS) lockReadOnly() error {
	if err := checkStoreDir(f.base, f.dir); err != nil {
		return err
	}
	lock, err := sharedLock(f.base, f.base.PathJoin(f.dir, lockFile), true)
	if err != nil {
		return lockFailed(f.dir, f.base.PathJoin(f.dir, lockFile), err)
	}
	f.lock = lock
	return nil
}

// sharedLock locks the existing file name for reading: on the disk, a
// shared lock that leaves the file untouched (lockFileShared); on another
// FS, its Lock. A missing file is no lock if absentOK, else an error. A
// wrapper of the disk (vfs.WithDiskHealthChecks, errorfs) is the disk:
// its Lock is Pebble's record lock, which this process gets again while a
// writable FS holds it (under another spelling of the path), and whose
// close releases that FS's lock; it also truncates the file.
func sharedLock(base vfs.FS, name string, absentOK bool) (io.Closer, error) {
	if _, err := base.Stat(name); oserror.IsNotExist(err) && absentOK {
		return nopCloser{}, nil
	}
	if vfs.Root(base) == vfs.Default {
		return lockFileShared(name)
	}
	return base.Lock(name)
}

// lockHeldError: another holder has the lock.
type lockHeldError struct {
	name string
	err  error
}

func (e *lockHeldError) Error() string { return "lock " + e.name + " held elsewhere: " + e.err.Error() }

func (e *lockHeldError) Unwrap() error { return e.err }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// refuseReadOnly is the error of a write-side operation op on a read-only
// FS, nil on a writable one. name is the file, "" for the store.
func (f *FS) refuseReadOnly(op, name string) error {
	if !f.cfg.ReadOnly {
		return nil
	}
	if name == "" {
		name = f.dir
	}
	return &PathError{Op: op, Path: name, Err: ErrReadOnly}
}

// mkdirAll is MkdirAll, refused on a read-only FS.
func (f *FS) mkdirAll(dir string, perm os.FileMode) error {
	if err := f.refuseReadOnly("mkdir", dir); err != nil {
		return err
	}
	return f.base.MkdirAll(dir, perm)
}
