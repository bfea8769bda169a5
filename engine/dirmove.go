package engine

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/errors/oserror"
)

// Renaming a directory moves the entries of every file under it, in one
// durable step, with the order a file's move follows (renameLocked):
//
//  1. Sync the source's parent directory: an open judges an unfinished
//     rename by whether the source exists, so its existence must not be
//     something a crash can undo.
//  2. Append, synced, a move-prefix record: every entry under from/ is
//     re-keyed under to/, and every entry at or under to is dropped (a
//     rename onto an empty directory, or onto anything a base FS lets it
//     replace). The record is pending: an open that finds the source
//     directory on disk undoes it, restoring both trees' entries.
//  3. Rename.
//  4. Sync the parent directories of both names: the rename is durable.
//  5. Append, synced, a settle record: the move is done and no open judges
//     it again. Without it a source directory made again later (MkdirAll
//     mentions no file) would make an open undo a rename that happened.
//
// A crash before 2 is durable leaves both trees and their entries as they
// were; between 2 and 4 the source's presence decides, correctly in both
// cases, since a rename is atomic; after 4 the source is gone and the move
// stands, settled or not. Nothing else runs meanwhile: the rename holds
// every path lock, so no file of either tree is created, renamed, removed
// or opened between the record and the settle, and the only record that can
// follow a move-prefix is its settle (or, when the rename fails, the settle
// and the records that put the entries back). A failed directory sync after
// the rename leaves its durability unknown: the dictionary refuses writes
// until a reopen judges it.
//
// Epochs only imply entries for regular files directly in the store
// directory; the files of a renamed directory are one level down or more
// under both names and all have explicit entries, so no epoch can claim
// them. Renaming the store directory itself, or one of its ancestors, or
// onto one, is refused: it would move the store, or bring files into its
// top level.

// writingUnder reports whether a file under the directory rel is open for
// writing.
func (f *FS) writingUnder(rel string) bool {
	f.writersMu.Lock()
	defer f.writersMu.Unlock()
	for p, n := range f.writers {
		if n > 0 && under(p, rel) {
			return true
		}
	}
	return false
}

// checkTree refuses a whole-tree operation on the store directory or one
// of its ancestors.
func checkTree(op, name, rel string) error {
	if storeOrAncestor(rel) {
		return &PathError{Op: op, Path: name, Err: ErrReservedName}
	}
	return nil
}

// renameDir renames the directory oldname, carrying its files' entries
// (see the top of this file).
func (f *FS) renameDir(oldname, newname, relOld, relNew string) error {
	if err := errors.Join(checkTree("rename", oldname, relOld), checkTree("rename", newname, relNew)); err != nil {
		return err
	}
	if under(relNew, relOld) || under(relOld, relNew) {
		// The OS refuses this (EINVAL); some base FSes lose the source.
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrInvalid}
	}
	unlock := f.paths.lockAll()
	defer unlock()
	fi, err := f.base.Stat(oldname)
	if err != nil || !fi.IsDir() {
		return f.renameLocked(oldname, newname, relOld, relNew) // gone or replaced since
	}
	if f.writingUnder(relOld) {
		// A writer is known by its path (Reencrypt leaves its file
		// alone); the rename would hide it.
		return &PathError{Op: "rename", Path: oldname, Err: ErrFilesOpen}
	}
	for _, rdir := range f.dict.pendingMoveDirs(relOld, relNew) {
		if err := f.dirs.sync(rdir); err != nil && !oserror.IsNotExist(err) {
			return err
		}
	}
	if err := f.syncDir(relOld); err != nil {
		return err
	}
	recorded, err := f.dict.moveDir(relOld, relNew)
	if err != nil {
		return err
	}
	if err := f.base.Rename(oldname, newname); err != nil {
		if !recorded {
			return err
		}
		if fi, serr := f.base.Stat(oldname); serr == nil && fi.IsDir() {
			if rerr := f.dict.revertDirMove(relOld, relNew); rerr != nil {
				f.log.Warn("tde: cannot restore dictionary entries after a failed directory rename; the next open will", "from", relOld, "to", relNew, "err", rerr)
			}
		} else {
			f.dict.fail(fmt.Errorf("engine: renaming directory %s to %s failed and the source is gone; reopen to recover: %w", oldname, newname, err))
		}
		return err
	}
	if !recorded {
		return nil
	}
	err = f.syncDir(relOld)
	if err == nil && splitRel(relNew) != splitRel(relOld) {
		err = f.syncDir(relNew)
	}
	if err != nil {
		err = fmt.Errorf("engine: syncing the directories of renamed %s (the rename may not survive a crash; reopen to recover): %w", oldname, err)
		f.dict.fail(err)
		return err
	}
	return f.dict.settleDir(relOld, relNew)
}
