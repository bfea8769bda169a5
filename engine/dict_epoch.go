package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/cockroachdb/errors/oserror"
)

// An epoch spares the files a store creates the synced dictionary record
// each would otherwise need before it exists (on a busy disk, that sync is
// most of what encryption costs a write-heavy store). The epoch record, one
// synced append, fixes a method, a key and a random nonce; a file then
// created in the store directory takes the implied entry, the epoch's key
// with IV = implicitIV(nonce, name), and its record waits for the next
// synced append. A crash may lose the record but not the entry: the open
// that follows gives every file of the store directory that has no entry,
// and that the epoch does not exclude, the implied entry of the epoch the
// crash interrupted. Excluded are the names that had no entry when the
// epoch began, and those that came to have none since (a rename or link of
// a file that has no entry, a lock file): plaintext from before encryption,
// or not the store's.
//
// An epoch gives each name one implied IV: a name created twice in it gets
// a random IV and a synced record the second time. Epochs never repeat a
// nonce (a new one begins with every open that creates files, and with
// every change of active key), so no two files share keystream. Close ends
// the epoch; a crash ends it at the next open.

// dictEpoch is the running epoch of a dictionary.
type dictEpoch struct {
	e        entry           // method and key of its files; IV holds the nonce
	excluded map[string]bool // names it must never claim
	used     map[string]bool // names it gave an implied IV, this session only
}

func newEpoch(op dictOp) *dictEpoch {
	ep := &dictEpoch{e: op.e, excluded: make(map[string]bool, len(op.names)), used: make(map[string]bool)}
	for _, n := range op.names {
		ep.excluded[n] = true
	}
	return ep
}

// op returns the record that begins ep, with every exclusion so far.
func (ep *dictEpoch) op() dictOp {
	op := dictOp{kind: opEpoch, e: ep.e, names: make([]string, 0, len(ep.excluded))}
	for n := range ep.excluded {
		op.names = append(op.names, n)
	}
	slices.Sort(op.names)
	return op
}

// implied returns the entry ep gives rel.
func (ep *dictEpoch) implied(rel string) entry {
	return entry{Method: ep.e.Method, KeyID: ep.e.KeyID, IV: implicitIV(ep.e.IV, rel)}
}

// implicitIV derives a file's IV from its epoch's nonce and its path. IVs
// need to be distinct, not secret: a hash of a random nonce and the path
// gives distinct ones for distinct pairs, as random IVs would.
func implicitIV(nonce [16]byte, rel string) [16]byte {
	h := sha256.New()
	h.Write([]byte("tde implied IV\x00"))
	h.Write(nonce[:])
	h.Write([]byte(rel))
	var iv [16]byte
	copy(iv[:], h.Sum(nil))
	return iv
}

// claimable reports whether ep may give rel an implied entry like e: a file
// directly in the store directory, under ep's key, that has no entry (not
// even one whose removal waits), and that ep has neither excluded nor used.
func (d *dictionary) claimable(ep *dictEpoch, rel string, e entry) bool {
	if ep == nil || !sameKey(ep.e, e) || splitRel(rel) != "." || ep.excluded[rel] || ep.used[rel] {
		return false
	}
	if d.state.pending[rel] != nil {
		// rel is a path of a move the log still says is pending: the
		// claim's queued record could be lost in a crash that keeps the
		// file, and an open would then find the move's source on disk
		// and undo a rename that happened. A synced record of its own
		// settles the move first.
		return false
	}
	_, has := d.state.entries[rel]
	return !has
}

// inEpoch reports whether an epoch for files like e runs: a create of such
// a file cannot begin one.
func (d *dictionary) inEpoch(e entry) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.state.epoch != nil && sameKey(d.state.epoch.e, e)
}

func sameKey(a, b entry) bool { return a.Method == b.Method && a.KeyID == b.KeyID }

// beginOp returns the record that begins an epoch for files like e: a
// fresh nonce, and every name of the store directory that has no entry.
func (d *dictionary) beginOp(e entry) (dictOp, error) {
	names, err := d.fs.List(d.dir)
	if err != nil {
		return dictOp{}, fmt.Errorf("engine: file dictionary: listing %s: %w", d.dir, err)
	}
	op := dictOp{kind: opEpoch, e: entry{Method: e.Method, KeyID: e.KeyID}}
	if _, err := rand.Read(op.e.IV[:]); err != nil {
		return dictOp{}, err
	}
	for _, n := range names {
		if _, has := d.state.entries[n]; (!has || d.removed[n]) && !reserved(n) {
			op.names = append(op.names, n)
		}
	}
	slices.Sort(op.names)
	return op, nil
}

// exclude records, before rel comes to exist with no entry, that the
// running epoch must not claim it.
func (d *dictionary) exclude(rel string) error {
	return d.commit(func() (dictOp, bool) {
		ep := d.state.epoch
		if ep == nil || splitRel(rel) != "." || reserved(rel) || ep.excluded[rel] {
			return dictOp{}, false
		}
		return dictOp{kind: opExclude, path: rel}, true
	})
}

// recoverEpoch ends the epoch a crash interrupted: the regular files of the
// store directory (names) that have no entry and that it does not exclude
// were created in it, and get its implied entries.
func (d *dictionary) recoverEpoch(path string, names []string) error {
	ep := d.state.epoch
	d.state.epoch = nil
	d.needRewrite = true // the log still says the epoch runs
	found := 0
	for _, n := range names {
		if _, has := d.state.entries[n]; has || reserved(n) || ep.excluded[n] {
			continue
		}
		fi, err := d.fs.Stat(d.fs.PathJoin(d.dir, n))
		if oserror.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("engine: file dictionary %s: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		d.state.set(n, ep.implied(n))
		found++
	}
	if found > 0 {
		d.opts.Logger.Info("engine: file dictionary: gave files created before a crash the entries their epoch implies", "log", path, "files", found)
	}
	return nil
}
