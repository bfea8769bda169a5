package engine

import (
	"strings"

	"github.com/tde-go/tde/keys"
)

// The state a log replays into: the entries, per-key counts, and the moves
// an open could still undo.

// dictState is the dictionary's map, its per-key counts, and the moves that
// an open could still undo.
type dictState struct {
	entries   map[string]entry
	keys      map[uint64]int          // entries per key id, so keyInUse is O(1)
	plaintext int                     // entries with keys.MethodPlaintext
	pending   map[string]*pendingMove // by source and by destination
	uncounted bool                    // keys and plaintext are stale (replay)
	// epoch is the running epoch, nil if none. After replay it is one a
	// crash interrupted, until reconcile gives its files their entries.
	epoch *dictEpoch
	// dirMove is the directory rename not yet settled, nil if none
	// (dirmove.go).
	dirMove *pendingDirMove
}

// pendingMove is a move that no later record has mentioned either path of:
// if its source is found on disk at open, the rename did not happen.
type pendingMove struct {
	from, to         string
	e                entry
	prevFrom, prevTo entry
	hadFrom, hadTo   bool
	// tickets are the dirSyncs tickets of the directories of from and to
	// taken just after the rename (renamed): a record that settles the
	// move waits until both are durable. Without them (a move replayed,
	// or whose rename the FS has not reported) it syncs both.
	tickets  [2]uint64
	ticketed bool
}

func newDictState() dictState {
	return dictState{
		entries: make(map[string]entry),
		keys:    make(map[uint64]int),
		pending: make(map[string]*pendingMove),
	}
}

func (s *dictState) apply(op dictOp) {
	switch op.kind {
	case opPut:
		s.settle(op.path)
		s.set(op.path, op.e)
	case opDelete:
		s.settle(op.path)
		s.del(op.path)
	case opDeletePrefix:
		prefix := op.path + "/"
		for p := range s.pending {
			if strings.HasPrefix(p, prefix) {
				s.settle(p)
			}
		}
		for p := range s.entries {
			if strings.HasPrefix(p, prefix) {
				s.del(p)
			}
		}
	case opMove:
		s.settle(op.path)
		s.settle(op.to)
		m := &pendingMove{from: op.path, to: op.to, e: op.e}
		m.prevFrom, m.hadFrom = s.entries[op.path]
		m.prevTo, m.hadTo = s.entries[op.to]
		s.del(op.path)
		s.set(op.to, op.e)
		s.pending[op.path] = m
		s.pending[op.to] = m
	case opEpoch:
		s.epoch = newEpoch(op)
	case opEpochEnd:
		s.epoch = nil
	case opExclude:
		if s.epoch != nil {
			s.epoch.excluded[op.path] = true
		}
	case opMovePrefix:
		s.movePrefix(op.path, op.to)
	case opSettle:
		s.settleDirMove(op.path, op.to)
	}
}

// settle forgets the pending move mentioning p, if any: a later record
// about either of its paths means the rename happened.
func (s *dictState) settle(p string) {
	if m := s.pending[p]; m != nil {
		delete(s.pending, m.from)
		delete(s.pending, m.to)
	}
}

// undo restores both paths of m as they were before it.
func (s *dictState) undo(m *pendingMove) {
	if m.hadTo {
		s.set(m.to, m.prevTo)
	} else {
		s.del(m.to)
	}
	if m.hadFrom {
		s.set(m.from, m.prevFrom)
	} else {
		s.del(m.from)
	}
}

func (s *dictState) set(p string, e entry) {
	if s.uncounted {
		s.entries[p] = e
		return
	}
	if old, ok := s.entries[p]; ok {
		s.unref(old)
	}
	s.entries[p] = e
	s.ref(e)
}

func (s *dictState) del(p string) {
	if s.uncounted {
		delete(s.entries, p)
		return
	}
	if old, ok := s.entries[p]; ok {
		s.unref(old)
		delete(s.entries, p)
	}
}

// recount makes the per-key counts from the entries.
func (s *dictState) recount() {
	clear(s.keys)
	s.plaintext = 0
	for _, e := range s.entries {
		s.ref(e)
	}
	s.uncounted = false
}

func (s *dictState) ref(e entry) {
	s.keys[e.KeyID]++
	if e.Method == keys.MethodPlaintext {
		s.plaintext++
	}
}

func (s *dictState) unref(e entry) {
	if s.keys[e.KeyID]--; s.keys[e.KeyID] <= 0 {
		delete(s.keys, e.KeyID)
	}
	if e.Method == keys.MethodPlaintext {
		s.plaintext--
	}
}
