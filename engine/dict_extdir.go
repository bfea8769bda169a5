package engine

import (
	"fmt"
	"slices"
	"strings"
)

// The dictionary side of directories outside the store (extdir.go).

// adoptDir settles what the open left undecided about rdir, a directory
// outside the store that lists names, now that Pebble named it (see the
// top of this file), in one synced record: the entries recorded under its
// older "../" name legacy are re-keyed under rdir (those of files it does
// not list dropped), and moves from it whose source is still there are
// undone (those whose source is gone are done). Entries of files it does
// not list are kept: a copy of the directory carries its identifier, and
// one Pebble is given for recovery (WALRecoveryDirs) may lack files only
// the other holds. The price is an entry, and its key, kept for a file
// removed behind the FS's back, or in a crash before its removal's record.
//
// A source still there whose destination holds the same bytes is the one
// file under both names, as reconcile judges it for the store: a crash
// kept the rename's new link and lost the old one's removal. The move is
// done; but the old name is not removed, as start removes the store's:
// Pebble may have listed the directory already and would miss a name it
// listed (a WAL it is about to delete). It stays without an entry, a name
// nothing reads: the destination Pebble renamed to (a recycled WAL) is the
// file it uses, and it deletes the old one by name, as it deletes any
// obsolete WAL. where gives a dictionary path's name on the base FS.
func (d *dictionary) adoptDir(rdir, legacy string, names []string, where func(rel string) string) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	listed := make(map[string]bool, len(names))
	for _, n := range names {
		listed[n] = true
	}
	base := func(rel string) string { return rel[strings.LastIndexByte(rel, '/')+1:] }
	// The moves first (pending is under wmu): judging one may read files,
	// which is not done holding mu.
	var moves []dictOp
	var ghosts []string // sources kept beside their destination
	done := make(map[*pendingMove]bool)
	for _, m := range d.state.pending {
		if done[m] || splitRel(m.from) != rdir {
			continue
		}
		done[m] = true
		ghost := false
		if listed[base(m.from)] {
			var err error
			if ghost, err = m.keptBothNames(d.fs, where(m.from), where(m.to)); err != nil {
				return fmt.Errorf("engine: file dictionary %s: judging the rename of %s to %s: %w", d.fs.PathJoin(d.dir, d.logName), m.from, m.to, err)
			}
		}
		if ghost || !listed[base(m.from)] {
			// The rename happened: a record about its destination
			// settles it. The source has no entry since the move, and
			// keeps none.
			moves = append(moves, dictOp{kind: opPut, path: m.to, e: m.e})
			if ghost {
				ghosts = append(ghosts, m.from)
			}
			continue
		}
		for _, p := range []struct {
			path string
			e    entry
			had  bool
		}{{m.to, m.prevTo, m.hadTo}, {m.from, m.prevFrom, m.hadFrom}} {
			if p.had {
				moves = append(moves, dictOp{kind: opPut, path: p.path, e: p.e})
			} else {
				moves = append(moves, dictOp{kind: opDelete, path: p.path})
			}
		}
	}
	var ops []dictOp
	d.mu.RLock()
	if legacy != "" {
		for rel, e := range d.state.entries {
			if splitRel(rel) != legacy || d.removed[rel] || d.state.pending[rel] != nil {
				continue
			}
			// A name left by a rename a crash kept under both names holds
			// the moved file: an entry from the "../" form is not its.
			if b := base(rel); listed[b] && !slices.Contains(ghosts, rdir+"/"+b) {
				ops = append(ops, dictOp{kind: opPut, path: rdir + "/" + b, e: e})
			}
			ops = append(ops, dictOp{kind: opDelete, path: rel})
		}
	}
	d.mu.RUnlock()
	ops = append(ops, moves...)
	if len(ops) == 0 {
		return nil // nothing to write: a dictionary that failed still reads
	}
	if err := d.writable(); err != nil {
		return err
	}
	took, err := d.append(ops...)
	if err == nil && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
	if err == nil && len(ghosts) > 0 {
		d.opts.Logger.Info("engine: file dictionary: took renames a crash kept under both names as done; their old names stay, with no entry, for Pebble to remove",
			"dir", rdir, "files", ghosts)
	}
	return err
}
