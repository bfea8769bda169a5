package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/errors/oserror"
)

// Writes: each change is appended as a synced record before it changes
// the state (or queued for the next synced append: removals, epoch files).

// settleDurable records that the pending move to or from rel happened:
// the caller made its rename durable, so no open may undo it, and the
// entry it replaced no longer holds its key (keyInUse). The record is
// synced before the move is forgotten: forgotten only in memory, the move
// would stay pending in the log, and an open after a crash that finds its
// source name again (Reencrypt's next copy of the same file) would undo it.
func (d *dictionary) settleDurable(rel string) error {
	return d.commit(func() (dictOp, bool) {
		m := d.state.pending[rel]
		if m == nil {
			return dictOp{}, false
		}
		// A record naming the destination settles the move on replay.
		return d.naming(m.to), true
	})
}

// naming is the record that states what the dictionary holds for rel now:
// its entry, or none. Replayed, it changes nothing but settles a pending
// move rel is a path of (dictState.apply).
func (d *dictionary) naming(rel string) dictOp {
	if e, ok := d.state.entries[rel]; ok && !d.removed[rel] {
		return dictOp{kind: opPut, path: rel, e: e}
	}
	return dictOp{kind: opDelete, path: rel}
}

// renamed notes, just after the rename of a move from from to to
// completed, the directory tickets a record settling it waits for.
func (d *dictionary) renamed(from, to string) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if m := d.state.pending[from]; m != nil && m.from == from && m.to == to {
		m.tickets = [2]uint64{d.opts.Dirs.ticket(splitRel(from)), d.opts.Dirs.ticket(splitRel(to))}
		m.ticketed = true
	}
}

// settles returns the pending moves ops would settle (dictState.apply).
func (d *dictionary) settles(ops []dictOp) []*pendingMove {
	if len(d.state.pending) == 0 {
		return nil // the usual case: no lookups per appended op
	}
	var ms []*pendingMove
	add := func(p string) {
		if m := d.state.pending[p]; m != nil && !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	for _, op := range ops {
		switch op.kind {
		case opPut, opDelete:
			add(op.path)
		case opMove:
			add(op.path)
			add(op.to)
		case opDeletePrefix:
			for p := range d.state.pending {
				if strings.HasPrefix(p, op.path+"/") {
					add(p)
				}
			}
		}
	}
	return ms
}

// settleDurably makes the renames of the moves ops settle durable before
// the record that settles them is: a crash that lost a rename the log no
// longer says is pending would pair the old file under the old name with
// whatever entry the log now gives that name (or none), and the moved
// entry with a destination that no longer holds it.
func (d *dictionary) settleDurably(ops []dictOp) error {
	for _, m := range d.settles(ops) {
		for i, rel := range []string{m.from, m.to} {
			rdir := splitRel(rel)
			var err error
			if m.ticketed {
				err = d.opts.Dirs.ensure(rdir, m.tickets[i])
			} else {
				err = d.opts.Dirs.sync(rdir)
			}
			if err != nil && !oserror.IsNotExist(err) {
				return fmt.Errorf("engine: file dictionary %s: syncing %s, where a rename the next record settles was made: %w", d.fs.PathJoin(d.dir, d.logName), rdir, err)
			}
		}
	}
	return nil
}

// settleName writes a record naming rel if rel is a path of a pending
// move, before a file with no entry (plaintext from before encryption) is
// renamed or linked to it: nothing else would name it in the log, and an
// open finding the move's source there again would undo the move.
func (d *dictionary) settleName(rel string) error {
	return d.commit(func() (dictOp, bool) {
		if d.state.pending[rel] == nil {
			return dictOp{}, false
		}
		return d.naming(rel), true
	})
}

// put records that rel is (about to be) written with e. Call it before
// creating the file.
func (d *dictionary) put(rel string, e entry) error {
	if err := checkEntry(rel, e); err != nil {
		return err
	}
	return d.commit(func() (dictOp, bool) {
		return dictOp{kind: opPut, path: rel, e: e}, true
	})
}

// removeLater drops rel's entry without a sync of its own: the record waits
// for the next synced append (or flush), which first makes sure rel's
// directory is durable as of ticket (see dirSyncs), so the record never
// outlives a crash that brings the file back. Until then get hides the
// entry; a crash in between leaves an entry for a missing file, which Open
// collects. Call it after the file is removed. An error means the record
// could not be queued (the dictionary is closed or failed); Open collects
// the entry then too.
func (d *dictionary) removeLater(rel string, ticket uint64) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	if _, ok := d.state.entries[rel]; !ok || d.removed[rel] {
		return nil
	}
	d.queued = append(d.queued, queuedOp{op: dictOp{kind: opDelete, path: rel}, ticket: ticket, removal: true})
	d.mu.Lock()
	d.removed[rel] = true
	d.mu.Unlock()
	if len(d.queued) < maxDeferred {
		return nil
	}
	_, err := d.append()
	return err
}

// flush writes the records waiting for a synced append, if any, and ends
// the epoch if its key is no longer the active one, so the key can retire.
func (d *dictionary) flush(active uint64) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	var end []dictOp
	if ep := d.state.epoch; ep != nil && ep.e.KeyID != active {
		end = append(end, dictOp{kind: opEpochEnd})
	}
	if len(d.queued) == 0 && len(end) == 0 {
		return nil
	}
	if err := d.writable(); err != nil {
		return err
	}
	took, err := d.append(end...)
	if err == nil && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
	return err
}

// remove drops rel's entry. Call it after the file is removed.
func (d *dictionary) remove(rel string) error {
	return d.commit(func() (dictOp, bool) {
		_, ok := d.state.entries[rel]
		return dictOp{kind: opDelete, path: rel}, ok
	})
}

// removePrefix drops every entry under the directory dirRel, after it was
// removed with everything in it.
func (d *dictionary) removePrefix(dirRel string) error {
	if dirRel == "" {
		return errors.New("engine: file dictionary: removePrefix of an empty directory name")
	}
	return d.commit(func() (dictOp, bool) {
		prefix := dirRel + "/"
		for rel := range d.state.entries {
			if strings.HasPrefix(rel, prefix) {
				return dictOp{kind: opDeletePrefix, path: dirRel}, true
			}
		}
		return dictOp{}, false
	})
}

// move records that to gets e and from loses its entry. Call it before
// renaming from to to (e is from's entry) or reusing from as to (e is
// fresh). Until a later record mentions either path, an open that finds
// from still on disk undoes the move.
func (d *dictionary) move(from, to string, e entry) error {
	if err := checkEntry(to, e); err != nil {
		return err
	}
	if from == "" {
		return errors.New("engine: file dictionary: move from an empty path")
	}
	return d.commit(func() (dictOp, bool) {
		return dictOp{kind: opMove, path: from, to: to, e: e}, true
	})
}

func checkEntry(rel string, e entry) error {
	if rel == "" {
		return errors.New("engine: file dictionary: entry for an empty path")
	}
	if !validMethod(e.Method) {
		return fmt.Errorf("engine: file dictionary: entry for %s has unknown method %d", rel, e.Method)
	}
	return nil
}

// commit appends the op prepare returns (prepare runs under the write lock
// and may find nothing to write), syncs it, then applies it.
func (d *dictionary) commit(prepare func() (dictOp, bool)) error {
	d.wmu.Lock()
	if err := d.writable(); err != nil {
		d.wmu.Unlock()
		return err
	}
	op, ok := prepare()
	if !ok {
		d.wmu.Unlock()
		return nil
	}
	if err := checkOpPaths(op); err != nil { // never write what an open refuses
		d.wmu.Unlock()
		return err
	}
	took, err := d.append(op)
	d.wmu.Unlock()
	if err == nil && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
	return err
}

func (d *dictionary) writable() error {
	switch {
	case d.closed:
		return fmt.Errorf("engine: file dictionary in %s: %w", d.dir, ErrClosed)
	case d.err != nil:
		return fmt.Errorf("engine: file dictionary refuses writes after a failure (reopen to recover): %w", d.err)
	case !d.started:
		return fmt.Errorf("engine: file dictionary in %s not started", d.dir)
	}
	return nil
}

// append writes the queued records and then own as one record and syncs
// it; only then do the removals and own change the map. The removals'
// directories are made durable first. Past the threshold it rewrites the
// log, after the record is durable, so a failed rewrite loses nothing.
func (d *dictionary) append(own ...dictOp) (time.Duration, error) {
	t0 := time.Now()
	ops := make([]dictOp, 0, len(d.queued)+len(own))
	for _, q := range d.queued {
		// A failed directory sync leaves the record unwritten and the
		// log as it was: nothing to poison.
		if q.removal {
			if err := d.opts.Dirs.ensure(splitRel(q.op.path), q.ticket); err != nil {
				return 0, fmt.Errorf("engine: file dictionary %s: syncing the directory of removed %s: %w", d.fs.PathJoin(d.dir, d.logName), q.op.path, err)
			}
		}
		ops = append(ops, q.op)
	}
	ops = append(ops, own...)
	// A failed directory sync leaves whether a rename survives a crash
	// unknown (as in renameDir): refuse writes until a reopen judges it.
	if err := d.settleDurably(ops); err != nil {
		d.err = err
		return 0, err
	}
	d.buf = append(d.buf[:0], recUpdate)
	for _, o := range ops {
		d.buf = appendOp(d.buf, o)
	}
	_, err := d.w.WriteRecord(d.buf)
	if err == nil {
		err = d.w.Flush()
	}
	if err == nil {
		err = d.file.Sync()
	}
	if err != nil {
		// How much of the record reached the disk is unknown: appending
		// more could bury a torn record mid-log. A reopen recovers.
		d.err = fmt.Errorf("engine: appending to file dictionary %s: %w", d.fs.PathJoin(d.dir, d.logName), err)
		return 0, d.err
	}
	took := time.Since(t0)
	d.mu.Lock()
	for _, q := range d.queued {
		if q.removal {
			d.state.apply(q.op) // the others were applied when queued
		}
	}
	for _, o := range own {
		d.state.apply(o)
	}
	clear(d.removed)
	clear(d.queued) // drop the paths they hold
	d.queued = d.queued[:0]
	d.logSize = d.base + d.w.Size()
	n := len(d.state.entries)
	d.mu.Unlock()

	d.appended++
	if d.appended > max(d.opts.RewriteThreshold, n) {
		if err := d.rewrite(); err != nil {
			d.opts.Logger.Error("engine: rewriting the file dictionary failed; the old log stays current", "err", err)
			d.appended = 0 // try again after as many appends
		}
	}
	return took, nil
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

// flushTree writes the records waiting for a synced append if one of them
// is a removal at or under rel.
func (d *dictionary) flushTree(rel string) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	for _, q := range d.queued {
		if q.removal && atOrUnder(q.op.path, rel) {
			if err := d.writable(); err != nil {
				return err
			}
			took, err := d.append()
			d.observe(took, err)
			return err
		}
	}
	return nil
}

// removeTree drops the entries at and under rel in one synced record. Call
// it after rel is removed with everything under it and its directory is
// synced.
func (d *dictionary) removeTree(rel string) error {
	d.wmu.Lock()
	if err := d.writable(); err != nil {
		d.wmu.Unlock()
		return err
	}
	var ops []dictOp
	if _, ok := d.state.entries[rel]; ok {
		ops = append(ops, dictOp{kind: opDelete, path: rel})
	}
	for p := range d.state.entries {
		if under(p, rel) {
			ops = append(ops, dictOp{kind: opDeletePrefix, path: rel})
			break
		}
	}
	if len(ops) == 0 {
		d.wmu.Unlock()
		return nil
	}
	took, err := d.append(ops...)
	d.wmu.Unlock()
	d.observe(took, err)
	return err
}

// canWrite is writable for callers that do not hold wmu (Remove,
// RemoveAll): closed, err and started change under it.
func (d *dictionary) canWrite() error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return d.writable()
}
