package secmem

import (
	"errors"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// fakeSys maps chunks from the heap and fails as told.
type fakeSys struct {
	size                     int
	lockErr, dumpErr, mapErr error
	mapped                   int
}

func (f *fakeSys) chunkSize() int { return f.size }

func (f *fakeSys) mapChunk(size int) ([]byte, error, error, error) {
	if f.mapErr != nil {
		return nil, nil, nil, f.mapErr
	}
	f.mapped++
	return heapAlloc(size), f.lockErr, f.dumpErr, nil
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestAllocFreeZeroesAndReuses(t *testing.T) {
	a := &arena{sys: &fakeSys{size: 4 * SlotSize}}
	b, err := a.alloc(32)
	if err != nil || len(b) != 32 || cap(b) != 32 {
		t.Fatalf("alloc(32) = len %d cap %d, %v", len(b), cap(b), err)
	}
	if addr(b)%8 != 0 {
		t.Errorf("slot at %#x is not 8-byte aligned", addr(b))
	}
	for i := range b {
		b[i] = 0xa5
	}
	slot := unsafe.Slice(unsafe.SliceData(b), SlotSize)
	a.free(b)
	for i, c := range slot {
		if c != 0 {
			t.Fatalf("byte %d of the freed slot is %#x, not zero", i, c)
		}
	}
	b2, _ := a.alloc(SlotSize)
	if addr(b2) != addr(b) {
		t.Errorf("freed slot not reused: got %#x, freed %#x", addr(b2), addr(b))
	}
	if st := a.status(); !st.NoDump || !st.Locked || st.Err != nil {
		t.Errorf("status = %+v, want every protection and no error", st)
	}
}

func TestDistinctSlots(t *testing.T) {
	a := &arena{sys: &fakeSys{size: 4 * SlotSize}}
	seen := map[uintptr]bool{}
	for range 10 { // three chunks
		b, err := a.alloc(16)
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr(b)] {
			t.Fatalf("slot %#x handed out twice", addr(b))
		}
		seen[addr(b)] = true
	}
	if n := len(a.chunks); n != 3 {
		t.Errorf("%d chunks for 10 slots of 4 per chunk, want 3", n)
	}
}

func TestDoubleFreePanics(t *testing.T) {
	a := &arena{sys: &fakeSys{size: 4 * SlotSize}}
	b, _ := a.alloc(16)
	a.free(b)
	defer func() {
		if recover() == nil {
			t.Error("second free of a slot did not panic")
		}
	}()
	a.free(b)
}

// TestEmpty: a zero-length buffer takes no slot, so it cannot leak one.
func TestEmpty(t *testing.T) {
	a := &arena{sys: &fakeSys{size: 4 * SlotSize}}
	b, err := a.alloc(0)
	if err != nil || b == nil || len(b) != 0 {
		t.Fatalf("alloc(0) = %v, %v; want an empty slice", b, err)
	}
	a.free(b)
	if len(a.chunks) != 0 {
		t.Errorf("alloc(0) mapped %d chunks", len(a.chunks))
	}
}

func TestTooLarge(t *testing.T) {
	if _, err := Alloc(SlotSize + 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Alloc(%d) = %v, want ErrTooLarge", SlotSize+1, err)
	}
}

// TestLockFailureKeepsNoDump: mlock over RLIMIT_MEMLOCK still hands out
// arena memory (out of the heap, out of dumps) and says it is unlocked.
func TestLockFailureKeepsNoDump(t *testing.T) {
	lockErr := errors.New("mlock: cannot allocate memory")
	f := &fakeSys{size: 4 * SlotSize, lockErr: lockErr}
	a := &arena{sys: f}
	if _, err := a.alloc(16); err != nil {
		t.Fatal(err)
	}
	st := a.status()
	if st.Locked || !st.NoDump || !errors.Is(st.Err, lockErr) {
		t.Errorf("status = %+v, want unlocked, no-dump, the mlock error", st)
	}
	if f.mapped != 1 {
		t.Errorf("%d chunks mapped, want 1", f.mapped)
	}
}

// TestMapFailureFallsBackToHeap: without a mapping Alloc still works, from
// the heap, and says so.
func TestMapFailureFallsBackToHeap(t *testing.T) {
	mapErr := errors.New("mmap: not here")
	a := &arena{sys: &fakeSys{size: 4 * SlotSize, mapErr: mapErr}}
	b, err := a.alloc(24)
	if err != nil || len(b) != 24 {
		t.Fatalf("alloc = len %d, %v", len(b), err)
	}
	b[0] = 1
	a.free(b)
	if b[0] != 0 {
		t.Error("free did not zero heap memory")
	}
	st := a.status()
	if st.Locked || st.NoDump || !errors.Is(st.Err, mapErr) {
		t.Errorf("status = %+v, want nothing protected and the mmap error", st)
	}
}

// TestFullArenaFallsBackToHeap: past maxArenaBytes, the heap.
func TestFullArenaFallsBackToHeap(t *testing.T) {
	a := &arena{sys: &fakeSys{size: maxArenaBytes}}
	for range maxArenaBytes / SlotSize {
		if _, err := a.alloc(8); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.status(); st.Err != nil {
		t.Fatalf("status before the arena is full = %+v", st)
	}
	if _, err := a.alloc(8); err != nil {
		t.Fatal(err)
	}
	if st := a.status(); st.NoDump || st.Err == nil {
		t.Errorf("status after the arena is full = %+v, want the heap fallback reported", st)
	}
}

// TestFullArenaReclaims: a full arena whose slots belong to holders no
// longer reachable (a Cipher, a key: they free their slot from a cleanup)
// collects them before it falls back to the heap. A long-lived process
// that opens many stores filled the arena this way, since memory off the
// Go heap never hastens a collection.
func TestFullArenaReclaims(t *testing.T) {
	// Cleanups run on a goroutine of their own: under -race on a busy
	// machine, later than the 10 ms a process waits.
	a := &arena{sys: &fakeSys{size: maxArenaBytes}, reclaimWait: 10 * time.Second}
	for range maxArenaBytes / SlotSize {
		b, err := a.alloc(8)
		if err != nil {
			t.Fatal(err)
		}
		holder := new([64]byte) // unreachable once the loop moves on
		runtime.AddCleanup(holder, a.free, b)
	}
	if _, err := a.alloc(8); err != nil {
		t.Fatal(err)
	}
	if st := a.status(); !st.NoDump || !st.Locked || st.Err != nil {
		t.Errorf("status after reclaiming = %+v, want every key in the arena", st)
	}
}
