package engine

import (
	"errors"
	"os"
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

// missingDir reports whether rdir, a directory relative to the store
// directory, does not exist or is not a directory.
func (f *FS) missingDir(rdir string) bool {
	fi, err := f.base.Stat(f.abs(rdir))
	if err == nil {
		return !fi.IsDir()
	}
	return oserror.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, os.ErrNotExist)
}
