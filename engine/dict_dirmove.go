package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"syscall"

	"github.com/cockroachdb/errors/oserror"
)

// The dictionary side of a directory rename (FS.renameDir, dirmove.go): one
// record that re-keys every entry under the directory, pending until its
// settle, and undone by an open that finds the source still there.

// pendingDirMove is a directory rename recorded (opMovePrefix) and not yet
// settled.
type pendingDirMove struct {
	from, to string
	prevTo   map[string]entry // the entries at or under to that it dropped
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
