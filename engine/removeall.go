package engine

import (
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// RemoveAll follows Remove's order: the files go, then the removal is made
// durable, then the record that drops their entries. The other order would
// let a crash bring the files back (their parent directory not synced)
// with their entries dropped: in a strict store, files no one can read.
// It holds every path lock (FS.RemoveAll), as Remove holds its path's: no
// file of the tree is created, renamed or opened meanwhile.
//
// A crash before the directory sync leaves the tree or not, entries
// intact; after it, the tree is gone and its entries are dropped by the
// record or, if that was lost, by the next open.

// removeAllLocked removes name (rel) and everything under it, then their
// entries. Call it holding every path lock.
func (f *FS) removeAllLocked(name, rel string) error {
	// A removal under rel whose record still waits needs a sync of its
	// directory first, which must still exist.
	if err := f.dict.flushTree(rel); err != nil {
		return err
	}
	link := isSymlink(f.base, name)
	if err := f.base.RemoveAll(name); err != nil {
		return err
	}
	if link {
		// Only the link went: the files reached through it are still in
		// its target. Their entries stay (under the link's name, as missing
		// a directory: Status lists it), so a link made again reads them.
		return nil
	}
	if !f.dict.hasTreeLocked(rel) {
		return nil
	}
	if err := f.syncDir(rel); err != nil {
		return err // the entries stay, for files that may come back
	}
	if err := f.dict.removeTree(rel); err != nil {
		f.log.Warn("tde: cannot drop dictionary entries; they will be collected at the next open", "dir", rel, "err", err)
	}
	return nil
}

// isSymlink reports whether name is a symbolic link on the disk. Other
// file systems (MemFS) have none. A trailing slash is no part of it:
// os.RemoveAll("link/") removes the link, while Lstat("link/") follows it.
func isSymlink(base vfs.FS, name string) bool {
	if vfs.Root(base) != vfs.Default {
		return false
	}
	fi, err := os.Lstat(filepath.Clean(name))
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}
