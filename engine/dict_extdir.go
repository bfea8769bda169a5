package engine

import (
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
func (d *dictionary) adoptDir(rdir, legacy string, names []string) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	listed := make(map[string]bool, len(names))
	for _, n := range names {
		listed[n] = true
	}
	base := func(rel string) string { return rel[strings.LastIndexByte(rel, '/')+1:] }
	var ops []dictOp
	d.mu.RLock()
	if legacy != "" {
		for rel, e := range d.state.entries {
			if splitRel(rel) != legacy || d.removed[rel] || d.state.pending[rel] != nil {
				continue
			}
			if listed[base(rel)] {
				ops = append(ops, dictOp{kind: opPut, path: rdir + "/" + base(rel), e: e})
			}
			ops = append(ops, dictOp{kind: opDelete, path: rel})
		}
	}
	done := make(map[*pendingMove]bool)
	for _, m := range d.state.pending {
		if done[m] || splitRel(m.from) != rdir {
			continue
		}
		done[m] = true
		if !listed[base(m.from)] {
			// The rename happened: a record about its destination
			// settles it.
			ops = append(ops, dictOp{kind: opPut, path: m.to, e: m.e})
			continue
		}
		for _, p := range []struct {
			path string
			e    entry
			had  bool
		}{{m.to, m.prevTo, m.hadTo}, {m.from, m.prevFrom, m.hadFrom}} {
			if p.had {
				ops = append(ops, dictOp{kind: opPut, path: p.path, e: p.e})
			} else {
				ops = append(ops, dictOp{kind: opDelete, path: p.path})
			}
		}
	}
	d.mu.RUnlock()
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
	return err
}
