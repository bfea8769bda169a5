package engine

import (
	"errors"
	"os"
	"slices"
	"syscall"

	"github.com/cockroachdb/errors/oserror"
)

// An open collects the entry of a file only when the file is proven gone:
// its directory exists and lists no such name. A directory that is missing
// proves nothing. A WAL directory outside the store (pebble.Options.WALDir,
// WAL failover's secondary) on a volume not yet mounted, or a checkpoint
// moved away for a while, comes back; had its entries been dropped, its
// files would come back as garbage and their data keys could be retired.
// So a missing directory keeps its entries, their keys stay in the
// registry (an entry keeps its key), a move whose source is in it stays
// pending (whether the rename happened is judged once the directory is
// back), and Status reports them (Status.MissingDirs).
//
// The price: the entries of a directory removed in a crash before its
// removal was recorded (RemoveAll) stay until a directory of that name
// appears again, and keep their data keys. An empty mount point is a
// directory that exists: give Pebble a subdirectory of the volume, not
// the mount point itself, so an unmounted volume reads as missing.

// listEntryDir lists the directory rdir (relative to the store directory)
// for reconcile. missing reports a directory that does not exist or is not
// a directory. Any other failure (a directory that cannot be read) is an
// error: the open fails, naming it, and nothing is dropped.
func (d *dictionary) listEntryDir(rdir string) (names []string, missing bool, err error) {
	full := d.fs.PathJoin(d.dir, rdir)
	names, err = d.fs.List(full)
	if err == nil && len(names) > 0 {
		return names, false, nil
	}
	// Gone, not a directory (some filesystems list a regular file as
	// empty), or unreadable: only a directory that exists proves its files
	// gone.
	fi, serr := d.fs.Stat(full)
	switch {
	case serr == nil && fi.IsDir():
		if err != nil {
			return nil, false, err // it exists, yet could not be listed
		}
		return names, false, nil
	case serr == nil, oserror.IsNotExist(serr), errors.Is(serr, syscall.ENOTDIR):
		return nil, true, nil
	default:
		return nil, false, serr
	}
}

// warnMissingDirs logs the entries and pending moves reconcile kept because
// their directory is missing.
func (d *dictionary) warnMissingDirs(path string, dirs []string) {
	if len(dirs) == 0 {
		return
	}
	slices.Sort(dirs)
	entries, moves := 0, 0
	for rel := range d.state.entries {
		if _, ok := slices.BinarySearch(dirs, splitRel(rel)); ok {
			entries++
		}
	}
	for p, m := range d.state.pending {
		if p == m.from {
			moves++
		}
	}
	d.opts.Logger.Warn("engine: file dictionary: keeping the entries of files whose directory is missing (an unmounted volume, a directory moved away); they are checked again at the next open",
		"log", path, "dirs", dirs, "entries", entries, "pending_moves", moves)
}

// missingDir reports whether rdir, a directory relative to the store
// directory, does not exist or is not a directory.
func (f *FS) missingDir(rdir string) bool {
	fi, err := f.base.Stat(f.abs(rdir))
	if err == nil {
		return !fi.IsDir()
	}
	return oserror.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, os.ErrNotExist)
}
