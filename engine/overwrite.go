package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// CTR encrypts byte i of a file with byte i of the file's keystream, so
// writing byte i twice with different plaintexts under one key and IV
// hands whoever sees both ciphertexts their XOR: C1^C2 = P1^P2. A fresh
// entry (Create, ReuseForWrite, OpenReadWrite of an empty file) is a fresh
// keystream; a file reopened for writing keeps its entry, since its bytes
// need it. So the engine keeps, for every keystream open for writing, the
// set of byte ranges it has encrypted, and refuses (OverwriteError) any
// write that overlaps it, before anything reaches the base file. The set
// belongs to the keystream, not to a name: hard links and a renamed file
// share it, and every handle open on them sees the others' writes. A
// handle opened on a file with bytes counts the file's size at open as
// written. Pebble writes its own files once, front to back; only its
// secondary cache for shared storage (sharedcache, files SHARED-CACHE-NNN)
// writes blocks in place again: with the rewrite refused, it frees the
// block and reads the object from shared storage instead.
//
// The set lives in memory. A crash forgets it, and the next open knows
// only each file's size: bytes written past the size the crash left
// (never synced, lost) may be written again, with other plaintext, under
// the same keystream. Their first ciphertext is then no part of the file,
// but it may survive in blocks the file system had written and the crash
// left unreferenced, where an attacker reading the raw device could find
// it. Pebble never reopens a file it wrote to write it again after a
// crash, except its shared cache, whose files it never syncs.

// ksID names a keystream: a data key and an IV.
type ksID struct {
	key uint64
	iv  [16]byte
}

// writtenSets holds the written set of every keystream open for writing,
// shared by the handles open on it and dropped when the last one closes.
type writtenSets struct {
	mu sync.Mutex
	m  map[ksID]*written
}

func (s *writtenSets) acquire(id ksID) *written {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.m[id]
	if w == nil {
		if s.m == nil {
			s.m = make(map[ksID]*written)
		}
		w = &written{id: id}
		s.m[id] = w
	}
	w.refs++
	return w
}

func (s *writtenSets) release(w *written) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.refs--; w.refs == 0 {
		delete(s.m, w.id)
	}
}

// written is the set of byte ranges one keystream has encrypted through
// this FS. While it is one range from byte 0, as when Pebble writes a file
// front to back, end holds that range's end, and an append claims its
// bytes with one compare-and-swap (append, inlined in the write path).
// The first write elsewhere makes it sorted, disjoint, non-adjacent spans
// under mu, for good (end < 0).
type written struct {
	id   ksID
	refs int // guarded by writtenSets.mu

	end atomic.Int64 // the set is [0, end); < 0: it is spans

	mu    sync.Mutex
	spans []span
}

// append claims [off, off+n) if the set is [0, off).
func (w *written) append(off int64, n int) bool {
	return off >= 0 && w.end.CompareAndSwap(off, off+int64(n))
}

// appends claims [off, off+n) of f's keystream if that is an append to
// the one range from 0 it has: the write path's common case, one
// compare-and-swap and no call (it inlines). If not, claim decides.
func (f *file) appends(off int64, n int) bool {
	ws := f.ws
	return ws != nil && off >= 0 && ws.end.CompareAndSwap(off, off+int64(n))
}

// toSpans makes the set spans, if it is not yet. Call it holding mu.
func (w *written) toSpans() {
	for {
		e := w.end.Load()
		if e < 0 {
			return
		}
		if w.end.CompareAndSwap(e, -1) {
			if e > 0 {
				w.spans = append(w.spans[:0], span{0, e})
			}
			return
		}
	}
}

type span struct{ lo, hi int64 } // [lo, hi)

// reserve adds [off, off+n) to the set if none of it is there, and reports
// whether it did; if not, at is the first byte of the range already in it.
func (w *written) reserve(off int64, n int) (at int64, ok bool) {
	if n <= 0 {
		return 0, true
	}
	hi := off + int64(n)
	if w.append(off, n) {
		return 0, true
	}
	w.mu.Lock()
	w.toSpans()
	s := w.spans
	k := len(s)
	if k == 0 || off >= s[k-1].hi {
		if k > 0 && off == s[k-1].hi {
			s[k-1].hi = hi
		} else {
			w.spans = append(s, span{off, hi})
		}
		w.mu.Unlock()
		return 0, true
	}
	at, ok = w.insert(off, hi)
	w.mu.Unlock()
	return at, ok
}

// insert is reserve for a range that does not begin past the last span.
func (w *written) insert(lo, hi int64) (int64, bool) {
	s := w.spans
	i := sort.Search(len(s), func(i int) bool { return s[i].hi > lo }) // i < len(s)
	if s[i].lo < hi {
		return max(lo, s[i].lo), false
	}
	joinPrev := i > 0 && s[i-1].hi == lo
	joinNext := s[i].lo == hi
	switch {
	case joinPrev && joinNext:
		s[i-1].hi = s[i].hi
		w.spans = slices.Delete(s, i, i+1)
	case joinPrev:
		s[i-1].hi = hi
	case joinNext:
		s[i].lo = lo
	default:
		w.spans = slices.Insert(s, i, span{lo, hi})
	}
	return 0, true
}

// add adds [lo, hi) to the set, whatever of it is there already.
func (w *written) add(lo, hi int64) {
	if lo >= hi {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for e := w.end.Load(); lo == 0 && e >= 0; e = w.end.Load() {
		// The file's size at open, from 0: still one range.
		if e >= hi || w.end.CompareAndSwap(e, hi) {
			return
		}
	}
	w.toSpans()
	s := w.spans
	i := sort.Search(len(s), func(i int) bool { return s[i].hi >= lo })
	j := sort.Search(len(s), func(j int) bool { return s[j].lo > hi })
	if i < j {
		lo, hi = min(lo, s[i].lo), max(hi, s[j-1].hi)
	}
	w.spans = slices.Replace(s, i, j, span{lo, hi})
}

// remove takes [lo, hi) out of the set: the part of a reservation that a
// short write did not write, so that a retry of it is no overwrite.
func (w *written) remove(lo, hi int64) {
	if lo >= hi {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.toSpans()
	out := w.spans[:0:0]
	for _, sp := range w.spans {
		if sp.hi <= lo || sp.lo >= hi {
			out = append(out, sp)
			continue
		}
		if sp.lo < lo {
			out = append(out, span{sp.lo, lo})
		}
		if sp.hi > hi {
			out = append(out, span{hi, sp.hi})
		}
	}
	w.spans = out
}

// errNotWritable: a write through a file opened for reading, which has no
// written set.
var errNotWritable = errors.New("file not open for writing")

// claim reserves [off, off+n) of f's keystream for a write, or refuses the
// write with nothing written. The write path tries appends first.
func (f *file) claim(off int64, n int) error {
	if f.ws == nil {
		return &PathError{Op: "write", Path: f.name, Err: errNotWritable}
	}
	if off < 0 || int64(n) > math.MaxInt64-off {
		// The OS refuses it too, but its end would wrap around first and
		// leave the set a span that every later range passes.
		return &PathError{Op: "write", Path: f.name, Err: os.ErrInvalid}
	}
	if at, ok := f.ws.reserve(off, n); !ok {
		return &OverwriteError{Path: f.name, Off: off, Len: n, Offset: at}
	}
	return nil
}

// unclaim gives back [lo, hi), which a short write claimed and did not
// write: the base file reports the bytes it took, and those it did not
// take never reached it.
func (f *file) unclaim(lo, hi int64) { f.ws.remove(lo, hi) }

// OverwriteError reports a write refused because part of its range was
// already written under the file's keystream: writing it again would XOR
// two plaintexts with the same key stream. Nothing of the write reached the
// file. It matches ErrOverwrite.
type OverwriteError struct {
	Path   string
	Off    int64 // the refused write's offset
	Len    int   // and length
	Offset int64 // the first byte of it already written
}

func (e *OverwriteError) Error() string {
	return fmt.Sprintf("engine: write %s: %d bytes at offset %d refused: byte %d was already written under this file's keystream, and CTR must not encrypt it again", e.Path, e.Len, e.Off, e.Offset)
}

func (e *OverwriteError) Is(target error) bool { return target == ErrOverwrite }
