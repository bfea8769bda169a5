package engine

import (
	"errors"
)

// The create path: a new entry for a file about to be created or reused,
// under the running epoch when it can (dict_epoch.go), or in a synced record.

// create records that rel is about to be created, and returns its entry:
// e (fresh, with a random IV) if it needs a synced record, or the epoch's
// implied one, queued. Call it before creating the file. It begins an
// epoch only if begin says it may (the caller holds what orders that
// against the changes that leave a name without an entry).
func (d *dictionary) create(rel string, e entry, begin bool) (entry, error) {
	return d.createOp(dictOp{kind: opPut, path: rel, e: e}, begin)
}

// reuse is create for a file made by renaming from (Pebble recycling a
// WAL): to gets the entry, from loses its own.
func (d *dictionary) reuse(from, to string, e entry, begin bool) (entry, error) {
	if from == "" {
		return entry{}, errors.New("engine: file dictionary: move from an empty path")
	}
	return d.createOp(dictOp{kind: opMove, path: from, to: to, e: e}, begin)
}

func (d *dictionary) createOp(op dictOp, begin bool) (entry, error) {
	rel := op.path
	if op.kind == opMove {
		rel = op.to
	}
	if err := checkEntry(rel, op.e); err != nil {
		return entry{}, err
	}
	if err := checkOpPaths(op); err != nil { // never record what an open refuses
		return entry{}, err
	}
	d.wmu.Lock()
	if err := d.writable(); err != nil {
		d.wmu.Unlock()
		return entry{}, err
	}
	// A reuse from a path of a pending move settles it: its record must
	// wait for the move's rename to be durable (append), not be queued.
	fromPending := op.kind == opMove && d.state.pending[op.path] != nil
	if ep := d.state.epoch; !fromPending && d.claimable(ep, rel, op.e) {
		op.e = ep.implied(rel)
		ep.used[rel] = true
		d.queued = append(d.queued, queuedOp{op: op})
		d.mu.Lock()
		d.state.apply(op)
		d.mu.Unlock()
		var err error
		if len(d.queued) >= maxDeferred {
			_, err = d.append()
		}
		d.wmu.Unlock()
		return op.e, err
	}
	own := make([]dictOp, 0, 2)
	if ep := d.state.epoch; begin && splitRel(rel) == "." && (ep == nil || !sameKey(ep.e, op.e)) {
		// The first file of the session or of a new key: begin an epoch
		// in this record, so the next files need none of their own.
		begin, err := d.beginOp(op.e)
		if err != nil {
			d.wmu.Unlock()
			return entry{}, err
		}
		own = append(own, begin)
	}
	own = append(own, op)
	took, err := d.append(own...)
	d.wmu.Unlock()
	if err == nil && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
	return op.e, err
}
