package engine

import (
	"github.com/tde-go/tde/keys"
)

// Reads of the dictionary's state: under mu for reading, never waiting
// for the disk.

// get returns rel's entry; a file removed has none, even while the record
// of its removal waits.
func (d *dictionary) get(rel string) (entry, bool) {
	d.mu.RLock()
	e, ok := d.state.entries[rel]
	ok = ok && !d.removed[rel]
	d.mu.RUnlock()
	return e, ok
}

// keyInUse reports whether any entry uses the data key id, or the running
// epoch does (a crash would give files it created the key). An entry whose
// removal waits still counts: until the record is durable, a crash could
// bring the file back, and it would need the key.
func (d *dictionary) keyInUse(id uint64) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ep := d.state.epoch
	if d.state.keys[id] > 0 || ep != nil && ep.e.KeyID == id {
		return true
	}
	// A move an open may still undo gives back the entries it replaced.
	for _, m := range d.state.pending {
		if m.hadFrom && m.prevFrom.KeyID == id || m.hadTo && m.prevTo.KeyID == id {
			return true
		}
	}
	if m := d.state.dirMove; m != nil {
		for _, e := range m.prevTo {
			if e.KeyID == id {
				return true
			}
		}
	}
	return false
}

// len returns the number of entries.
func (d *dictionary) len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.state.entries) - len(d.removed)
}

// encrypted returns the number of entries with an encrypting method.
func (d *dictionary) encrypted() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := len(d.state.entries) - d.state.plaintext
	for rel := range d.removed {
		if d.state.entries[rel].Method != keys.MethodPlaintext {
			n--
		}
	}
	return n
}

// each calls fn for every entry of a snapshot taken at the call, without
// holding the lock, so fn may call back into the dictionary.
func (d *dictionary) each(fn func(rel string, e entry)) {
	type kv struct {
		rel string
		e   entry
	}
	d.mu.RLock()
	all := make([]kv, 0, len(d.state.entries))
	for rel, e := range d.state.entries {
		if !d.removed[rel] {
			all = append(all, kv{rel, e})
		}
	}
	d.mu.RUnlock()
	for _, x := range all {
		fn(x.rel, x.e)
	}
}

// logPath returns the current log's full path, "" before start.
func (d *dictionary) logPath() string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.path
}

// size returns the current log's size in bytes, 0 before start.
func (d *dictionary) size() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.logSize
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

// hasTreeLocked is hasTree for a caller holding neither lock.
func (d *dictionary) hasTreeLocked(rel string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.hasTree(rel)
}

// hasDirLocked reports whether any entry is directly in rdir.
func (d *dictionary) hasDirLocked(rdir string) bool {
	if rdir == "" {
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for rel := range d.state.entries {
		if splitRel(rel) == rdir {
			return true
		}
	}
	return false
}
