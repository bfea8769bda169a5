package engine

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

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

// pendingDirMove is a directory rename recorded (opMovePrefix) and not yet
// settled.
type pendingDirMove struct {
	from, to string
	prevTo   map[string]entry // the entries at or under to that it dropped
}

// under reports whether rel lies inside the directory dir.
func under(rel, dir string) bool {
	return len(rel) > len(dir) && rel[len(dir)] == '/' && strings.HasPrefix(rel, dir)
}

func atOrUnder(rel, dir string) bool { return rel == dir || under(rel, dir) }

// storeOrAncestor reports whether rel names the store directory or a
// directory holding it.
func storeOrAncestor(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg != "." && seg != ".." {
			return false
		}
	}
	return true
}

// movePrefix applies opMovePrefix.
func (s *dictState) movePrefix(from, to string) {
	// The engine made the renames of pending file moves in either tree
	// durable before writing this record (FS.renameDir): settle them, so
	// no open judges them by paths the directory rename changed.
	for p := range s.pending {
		if atOrUnder(p, from) || atOrUnder(p, to) {
			s.settle(p)
		}
	}
	m := &pendingDirMove{from: from, to: to, prevTo: make(map[string]entry)}
	var moved []string
	for p, e := range s.entries {
		switch {
		case atOrUnder(p, to):
			m.prevTo[p] = e
		case under(p, from):
			moved = append(moved, p)
		}
	}
	for p := range m.prevTo {
		s.del(p)
	}
	for _, p := range moved {
		e := s.entries[p]
		s.del(p)
		s.set(to+p[len(from):], e)
	}
	s.dirMove = m
}

// settleDirMove applies opSettle.
func (s *dictState) settleDirMove(from, to string) {
	if m := s.dirMove; m != nil && m.from == from && m.to == to {
		s.dirMove = nil
	}
}

// undoDirMove puts the entries of the pending directory move back.
func (s *dictState) undoDirMove() {
	m := s.dirMove
	s.dirMove = nil
	var back []string
	for p := range s.entries {
		if under(p, m.to) {
			back = append(back, p)
		}
	}
	for _, p := range back {
		e := s.entries[p]
		s.del(p)
		s.set(m.from+p[len(m.to):], e)
	}
	for p, e := range m.prevTo {
		s.set(p, e)
	}
}

// before returns the name rel had before m re-keyed it (rel if m is nil or
// did not).
func (m *pendingDirMove) before(rel string) string {
	if m == nil || !under(rel, m.to) {
		return rel
	}
	return m.from + rel[len(m.to):]
}

// ops returns what a rewrite writes, after the entries under their names
// before m, for m still to be undoable: the entries m dropped, then m.
func (m *pendingDirMove) ops() []dictOp {
	if m == nil {
		return nil
	}
	ops := make([]dictOp, 0, len(m.prevTo)+1)
	for _, p := range slices.Sorted(maps.Keys(m.prevTo)) {
		ops = append(ops, dictOp{kind: opPut, path: p, e: m.prevTo[p]})
	}
	return append(ops, dictOp{kind: opMovePrefix, path: m.from, to: m.to})
}

// reconcileDirMove judges the directory move a crash left pending: undone
// if its source is still there. Either way the log is rewritten, so that it
// no longer says the move is pending.
func (d *dictionary) reconcileDirMove(path string) error {
	m := d.state.dirMove
	if m == nil {
		return nil
	}
	d.needRewrite = true
	fi, err := d.fs.Stat(d.fs.PathJoin(d.dir, m.from))
	switch {
	case err == nil && fi.IsDir():
		d.state.undoDirMove()
		d.opts.Logger.Info("engine: file dictionary: undid a directory move whose rename did not happen", "log", path, "from", m.from, "to", m.to)
	case err != nil && !oserror.IsNotExist(err):
		return fmt.Errorf("engine: file dictionary %s: %s: %w", path, m.from, err)
	case d.missingParent(m.from):
		// The source's parent is missing too (an unmounted volume):
		// its absence proves nothing. The move stays pending, written
		// so by the rewrite, until an open can tell.
		d.opts.Logger.Warn("engine: file dictionary: keeping a directory move pending; the source's parent directory is missing", "log", path, "from", m.from, "to", m.to)
	default:
		d.state.dirMove = nil
	}
	return nil
}

// missingParent reports whether the directory holding rel does not exist
// or is not a directory.
func (d *dictionary) missingParent(rel string) bool {
	fi, err := d.fs.Stat(d.fs.PathJoin(d.dir, splitRel(rel)))
	if err == nil {
		return !fi.IsDir()
	}
	return oserror.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR)
}

// pendingMoveDirs returns the directories of the pending file moves that
// have a path at or under from or to.
func (d *dictionary) pendingMoveDirs(from, to string) []string {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	var dirs []string
	for p, m := range d.state.pending {
		if atOrUnder(p, from) || atOrUnder(p, to) {
			dirs = append(dirs, splitRel(m.from), splitRel(m.to))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// moveDir records, before the directory from is renamed to, that the
// entries under from move under to (opMovePrefix). It reports false, having
// written nothing, if no entry is at or under either.
func (d *dictionary) moveDir(from, to string) (bool, error) {
	d.wmu.Lock()
	if err := d.writable(); err != nil {
		d.wmu.Unlock()
		return false, err
	}
	if !d.hasTree(from) && !d.hasTree(to) {
		d.wmu.Unlock()
		return false, nil
	}
	took, err := d.append(dictOp{kind: opMovePrefix, path: from, to: to})
	d.wmu.Unlock()
	d.observe(took, err)
	return true, err
}

// settleDir records that the rename of from to to is durable.
func (d *dictionary) settleDir(from, to string) error {
	return d.commit(func() (dictOp, bool) {
		return dictOp{kind: opSettle, path: from, to: to}, true
	})
}

// revertDirMove records that the rename of from to to failed, the source
// still in place: the settle and the entries as they were, in one record.
func (d *dictionary) revertDirMove(from, to string) error {
	d.wmu.Lock()
	if err := d.writable(); err != nil {
		d.wmu.Unlock()
		return err
	}
	m := d.state.dirMove
	if m == nil || m.from != from || m.to != to {
		d.wmu.Unlock()
		return nil
	}
	ops := []dictOp{{kind: opSettle, path: from, to: to}}
	var back []string
	for p := range d.state.entries {
		if under(p, to) {
			back = append(back, p)
		}
	}
	slices.Sort(back)
	if len(back) > 0 {
		ops = append(ops, dictOp{kind: opDeletePrefix, path: to})
	}
	for _, p := range back {
		ops = append(ops, dictOp{kind: opPut, path: m.before(p), e: d.state.entries[p]})
	}
	for _, p := range slices.Sorted(maps.Keys(m.prevTo)) {
		ops = append(ops, dictOp{kind: opPut, path: p, e: m.prevTo[p]})
	}
	took, err := d.append(ops...)
	d.wmu.Unlock()
	d.observe(took, err)
	return err
}

// hasTree reports whether an entry is at or under rel. Call it holding wmu
// or mu.
func (d *dictionary) hasTree(rel string) bool {
	if _, ok := d.state.entries[rel]; ok {
		return true
	}
	for p := range d.state.entries {
		if under(p, rel) {
			return true
		}
	}
	return false
}

// fail makes the dictionary refuse writes until a reopen: the namespace's
// durable state is unknown.
func (d *dictionary) fail(err error) {
	d.wmu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.wmu.Unlock()
}

func (d *dictionary) observe(took time.Duration, err error) {
	if err == nil && took > 0 && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
}

// lockAll write-locks every stripe, in index order as lockPair does, and
// returns the unlock: for the operations on a whole tree of names.
func (p *pathLocks) lockAll() func() {
	for i := range p.locks {
		p.locks[i].Lock()
	}
	return func() {
		for i := len(p.locks) - 1; i >= 0; i-- {
			p.locks[i].Unlock()
		}
	}
}

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
