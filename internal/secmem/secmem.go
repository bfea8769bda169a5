// Package secmem allocates small buffers for key material outside the Go
// heap, in pages the OS is asked to lock against swap (mlock), to leave out
// of core dumps (MADV_DONTDUMP) and to wipe in a forked child
// (MADV_WIPEONFORK), where it allows.
//
// The Go heap cannot do this: a heap page holds unrelated objects, and
// advising or locking it would cover them and miss the key's next home
// once the page is reused. So the package keeps a small arena of dedicated
// anonymous mappings, cut into fixed slots of SlotSize bytes, and hands out
// slots. Free zeroes a slot before it can be handed out again.
//
// The arena is the package's one mutable global: locked memory is a
// process-wide resource (RLIMIT_MEMLOCK), and every key of the process
// (master keys, data keys, round keys of every cipher) shares the same few
// pages, so one arena per caller would multiply mappings and locked pages
// for nothing.
//
// Where a protection is not available (mlock over RLIMIT_MEMLOCK, an OS
// without MADV_DONTDUMP, a platform without mmap, an arena full) Alloc still
// succeeds, with the protections it could get, down to plain heap memory;
// Status says what was lost, so the caller can log it. The package itself
// never logs.
package secmem

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// SlotSize is the largest buffer Alloc returns: room for an AES-256 key
// schedule (15 round keys and a round count).
const SlotSize = 256

// maxArenaBytes bounds the arena (1024 slots: a store's master key, data
// keys and their ciphers take a few dozen): past it, allocations come from
// the heap and Status says so, rather than locking ever more memory for a
// program that makes ciphers faster than the collector returns them.
const maxArenaBytes = 256 << 10

// ErrTooLarge is returned by Alloc for a request over SlotSize.
var ErrTooLarge = errors.New("secmem: allocation over " + strconv.Itoa(SlotSize) + " bytes")

// State says which protections the memory handed out so far has. The
// booleans hold for every allocation made so far (all true before the
// first).
type State struct {
	// NoDump: key memory is out of the Go heap and left out of core dumps.
	NoDump bool
	// Locked: key memory is locked against swap.
	Locked bool
	// Err is the first failure seen, nil if none: why a protection is
	// missing.
	Err error
}

// global is the process's arena (see the package doc for why it is one).
var global = &arena{sys: platform{}}

// Alloc returns n zeroed bytes (n <= SlotSize) for key material. Give them
// back with Free, which zeroes them; do not let them outlive Free.
func Alloc(n int) ([]byte, error) { return global.alloc(n) }

// Free zeroes b, which Alloc returned, and returns its slot to the arena.
// b must not be used afterwards. Freeing a slot twice panics: two owners
// of one slot would share a key.
func Free(b []byte) { global.free(b) }

// Status reports the protections of the memory Alloc has handed out.
func Status() State { return global.status() }

// sys is what the arena needs from the OS: a chunk of memory, with as
// many protections as it can get. mapChunk returns the chunk even when
// some protection failed (lockErr, dumpErr); err means no chunk.
type sys interface {
	chunkSize() int
	mapChunk(size int) (mem []byte, lockErr, dumpErr, err error)
}

// chunk is one mapping, cut into slots.
type chunk struct {
	mem  []byte
	used []bool
}

type arena struct {
	sys sys

	mu     sync.Mutex
	chunks []*chunk
	slots  [][]byte // free slots, each SlotSize long
	full   bool     // maxArenaBytes reached: no more chunks
	// exhausted: full, and a collection freed no slot since the last free;
	// until a slot is freed, allocations go to the heap at once.
	exhausted bool
	// reclaimWait, if not zero, replaces the package's (tests on a loaded
	// machine, where cleanups may run late).
	reclaimWait time.Duration
	mapErr      error // a mapping failed: allocations go to the heap
	unlocked    bool  // some chunk is not locked
	dumped      bool  // some memory may be in a core dump
	firstErr    error
}

func (a *arena) fail(err error) {
	if a.firstErr == nil {
		a.firstErr = err
	}
}

func (a *arena) alloc(n int) ([]byte, error) {
	if n < 0 || n > SlotSize {
		return nil, ErrTooLarge
	}
	if n == 0 {
		return []byte{}, nil // nothing to protect, and Free ignores it
	}
	if b, retry := a.take(n); b != nil || !retry {
		return b, nil
	}
	// Full. The slots of ciphers and keys no longer reachable come back
	// through their cleanups (runtime.AddCleanup), which only a collection
	// runs, and memory off the Go heap never hastens one: collect, and give
	// the cleanups a moment, before falling back to the heap.
	runtime.GC()
	wait := a.reclaimWait
	if wait == 0 {
		wait = reclaimWait
	}
	for deadline := time.Now().Add(wait); ; {
		if b, _ := a.take(n); b != nil {
			return b, nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(reclaimPoll)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exhausted = true
	a.fail(errors.New("secmem: arena full (" + strconv.Itoa(maxArenaBytes) + " bytes); further key memory comes from the Go heap"))
	return a.heapLocked(n), nil
}

// reclaimWait bounds the wait of a full arena for the cleanups a
// collection queued, once per exhaustion; reclaimPoll is how often it
// looks.
const (
	reclaimWait = 10 * time.Millisecond
	reclaimPoll = 100 * time.Microsecond
)

// take returns a slot, growing the arena if it may. With none, it returns
// nil and whether a collection could still free one (the arena is full,
// not failed or already exhausted); the heap fallback is then the
// caller's, or, if not, already taken.
func (a *arena) take(n int) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.slots) == 0 && a.mapErr == nil && !a.full {
		a.grow()
	}
	if len(a.slots) == 0 {
		if a.full && a.mapErr == nil && !a.exhausted {
			return nil, true
		}
		return a.heapLocked(n), false
	}
	s := a.slots[len(a.slots)-1]
	a.slots = a.slots[:len(a.slots)-1]
	c, i := a.find(unsafe.Pointer(unsafe.SliceData(s)))
	c.used[i] = true
	return s[:n:n], false
}

// heapLocked is the fallback, recorded in the status.
func (a *arena) heapLocked(n int) []byte {
	a.dumped, a.unlocked = true, true
	return heapAlloc(n)
}

// heapAlloc is the fallback: Go memory, 8-byte aligned like a slot so a
// caller may lay a struct of words over it.
func heapAlloc(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w)*8)[:n:n]
}

// grow maps one more chunk, if the bound allows.
func (a *arena) grow() {
	size := a.sys.chunkSize()
	if (len(a.chunks)+1)*size > max(maxArenaBytes, size) {
		a.full = true // alloc reclaims, and reports if it cannot
		return
	}
	mem, lockErr, dumpErr, err := a.sys.mapChunk(size)
	if err != nil {
		a.mapErr = err
		a.fail(err)
		return
	}
	if lockErr != nil {
		a.unlocked = true
		a.fail(lockErr)
	}
	if dumpErr != nil {
		a.dumped = true
		a.fail(dumpErr)
	}
	c := &chunk{mem: mem, used: make([]bool, size/SlotSize)}
	a.chunks = append(a.chunks, c)
	// Push in reverse so slots go out in address order.
	for i := len(c.used) - 1; i >= 0; i-- {
		a.slots = append(a.slots, mem[i*SlotSize:(i+1)*SlotSize:(i+1)*SlotSize])
	}
}

// find returns the chunk and slot index p lies in, or nil.
func (a *arena) find(p unsafe.Pointer) (*chunk, int) {
	for _, c := range a.chunks {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(c.mem)))
		if u := uintptr(p); u >= base && u < base+uintptr(len(c.mem)) {
			return c, int(u-base) / SlotSize
		}
	}
	return nil, 0
}

func (a *arena) free(b []byte) {
	if cap(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, i := a.find(unsafe.Pointer(unsafe.SliceData(b)))
	if c == nil {
		clear(b[:cap(b)]) // from the heap fallback
		return
	}
	if !c.used[i] {
		panic("secmem: slot freed twice")
	}
	s := c.mem[i*SlotSize : (i+1)*SlotSize : (i+1)*SlotSize]
	clear(s)
	c.used[i] = false
	a.slots = append(a.slots, s)
	a.exhausted = false
}

func (a *arena) status() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return State{NoDump: !a.dumped, Locked: !a.unlocked, Err: a.firstErr}
}
