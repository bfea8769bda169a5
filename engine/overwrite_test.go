package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// rawAt reads n bytes at off of name on base: what the disk holds.
func rawAt(t *testing.T, base vfs.FS, name string, off int64, n int) []byte {
	t.Helper()
	r, err := base.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return b
}

func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// overwriteCase is one file of the FS, seen through the engine (fs) and on
// its base (base), for tests that write over its bytes.
type overwriteCase struct {
	t    *testing.T
	base vfs.FS
	fs   *FS
}

// refused writes p at off through w (with Write if off < 0) and requires
// the engine to refuse it as an overwrite of byte at, naming path, with
// nothing written: the stored bytes stay as they were. If the write goes
// through, it reports whether the stored bytes now give away the XOR of
// the two plaintexts: the keystream was applied twice.
func (c overwriteCase) refused(w vfs.File, path string, p []byte, off, at int64) {
	t := c.t
	t.Helper()
	pos := off
	if off < 0 {
		pos = w.(*file).pos
	}
	plainBefore := make([]byte, len(p))
	r, err := c.fs.Open(path) // w may be write-only
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(plainBefore, pos); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	r.Close()
	before := rawAt(t, c.base, path, pos, len(p))
	orig := bytes.Clone(p)
	var n int
	if off < 0 {
		n, err = w.Write(p)
	} else {
		n, err = w.WriteAt(p, off)
	}
	after := rawAt(t, c.base, path, pos, len(p))
	if err == nil {
		// Compare where both versions were written.
		lo := at - pos
		c1, c2 := before[lo:], after[lo:]
		p1, p2 := plainBefore[lo:], orig[lo:]
		if bytes.Equal(xorBytes(c1, c2), xorBytes(p1, p2)) {
			t.Fatalf("write of %d bytes at %d over written bytes of %s succeeded, and C1^C2 == P1^P2: one keystream applied to two plaintexts", len(p), pos, path)
		}
		t.Fatalf("write of %d bytes at %d over written bytes of %s succeeded", len(p), pos, path)
	}
	var oe *OverwriteError
	if !errors.Is(err, ErrOverwrite) || !errors.As(err, &oe) {
		t.Fatalf("write at %d: got %v, want an *OverwriteError", pos, err)
	}
	if n != 0 || oe.Path != path || oe.Off != pos || oe.Len != len(p) || oe.Offset != at {
		t.Fatalf("write at %d: n=%d, %+v; want nothing written, %s, first written byte %d", pos, n, oe, path, at)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a refused write changed the stored bytes")
	}
	if !bytes.Equal(p, orig) {
		t.Fatal("a refused write changed the caller's buffer")
	}
	if off < 0 && w.(*file).pos != pos {
		t.Fatal("a refused Write moved the file's offset")
	}
}

// ok writes p at off through w (with Write, on a copy of p it may
// encrypt in place, if off < 0) and requires it to succeed.
func (c overwriteCase) ok(w vfs.File, p []byte, off int64) {
	c.t.Helper()
	var err error
	if off < 0 {
		_, err = w.Write(bytes.Clone(p))
	} else {
		_, err = w.WriteAt(p, off)
	}
	if err != nil {
		c.t.Fatalf("write of %d bytes at %d: %v", len(p), off, err)
	}
}

func (c overwriteCase) readsBack(w vfs.File, want []byte, off int64) {
	c.t.Helper()
	got := make([]byte, len(want))
	if _, err := w.ReadAt(got, off); err != nil && !errors.Is(err, io.EOF) {
		c.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("%d bytes at %d read back wrong", len(want), off)
	}
}

func mustFile(t *testing.T) func(vfs.File, error) vfs.File {
	return func(w vfs.File, err error) vfs.File {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
}

// TestOverwriteRefused: no write path applies a file's keystream twice. A
// write over bytes already written under the same key and IV is refused
// with nothing written, whether it comes from WriteAt, from Write after a
// reopen, from a second handle, or through a link or a new name; writes to
// bytes never written (out of order, past the end) work; a fresh keystream
// (Create over a name, ReuseForWrite, an empty file opened read-write)
// starts with nothing written. On main every one of these overwrites went
// through and left C1^C2 == P1^P2 on disk.
func TestOverwriteRefused(t *testing.T) {
	for _, m := range encrypting {
		t.Run(m.String(), func(t *testing.T) { testOverwriteRefused(t, m) })
	}
}

func testOverwriteRefused(t *testing.T, m keys.Method) {
	base := vfs.NewMem()
	f := mustOpen(t, base, "/s", testConfig(t, m))
	defer mustClose(t, f)
	c := overwriteCase{t: t, base: base, fs: f}
	must := mustFile(t)
	cat := vfs.WriteCategoryUnspecified
	p1, p2 := randBytes(4096), randBytes(4096)

	t.Run("WriteAt", func(t *testing.T) {
		c.t = t
		w := must(f.OpenReadWrite("/s/c", cat))
		c.ok(w, p1, 0)
		c.refused(w, "/s/c", p2, 0, 0)
		c.refused(w, "/s/c", p2[:10], 4090, 4090) // the last bytes
		c.refused(w, "/s/c", p2, -1, 0)           // Write: its offset is 0
		c.ok(w, p2[:100], 4096)                   // just past the end
		c.ok(w, p2[:100], 10000)                  // leaving a hole
		c.ok(w, p2[100:200], 5000)                // in the hole
		c.refused(w, "/s/c", p2[:200], 9900, 10000)
		c.refused(w, "/s/c", p2[:2000], 4100, 4100)
		c.ok(w, p2[200:1004], 4196) // the rest of the hole, exactly
		c.readsBack(w, p1, 0)
		c.readsBack(w, p2[:100], 4096)
		c.readsBack(w, p2[200:1004], 4196)
		c.readsBack(w, p2[100:200], 5000)
		c.readsBack(w, p2[:100], 10000)
		w.Close()
	})

	t.Run("reopen", func(t *testing.T) {
		c.t = t
		w := must(f.OpenReadWrite("/s/c", cat))
		c.refused(w, "/s/c", p2, -1, 0) // Write after reopen starts at 0
		c.refused(w, "/s/c", p2, 0, 0)
		c.refused(w, "/s/c", p2[:100], 7000, 7000) // a hole then: below the size
		c.ok(w, p2, 10100)                         // appending still works
		c.readsBack(w, p1, 0)
		c.readsBack(w, p2, 10100)
		w.Close()
	})

	t.Run("empty", func(t *testing.T) {
		c.t = t
		must(f.Create("/s/e", cat)).Close()
		w := must(f.OpenReadWrite("/s/e", cat)) // empty: a fresh keystream
		c.ok(w, p1, -1)
		c.refused(w, "/s/e", p2, 0, 0)
		w.Close()
	})

	t.Run("two handles", func(t *testing.T) {
		c.t = t
		h1 := must(f.OpenReadWrite("/s/d", cat))
		c.ok(h1, p1, 0)
		h2 := must(f.OpenReadWrite("/s/d", cat))
		c.ok(h1, p1, 4096) // after h2 opened: not in the size h2 saw
		c.refused(h2, "/s/d", p2, 4196, 4196)
		c.ok(h2, p2, 8192)
		c.refused(h1, "/s/d", p1, 8192, 8192)
		h1.Close()
		c.refused(h2, "/s/d", p2, 0, 0)
		h2.Close()
	})

	t.Run("link", func(t *testing.T) {
		c.t = t
		a := must(f.Create("/s/a", cat))
		c.ok(a, p1, -1)
		if err := f.Link("/s/a", "/s/b"); err != nil {
			t.Fatal(err)
		}
		b := must(f.OpenReadWrite("/s/b", cat))
		c.refused(b, "/s/b", p2, 0, 0)
		c.ok(a, p1, -1) // 4096..8192, through the other name
		c.refused(b, "/s/b", p2, 4096, 4096)
		c.ok(b, p2, 8192)
		c.refused(a, "/s/a", p1, -1, 8192)
		a.Close()
		b.Close()
	})

	t.Run("rename", func(t *testing.T) {
		c.t = t
		a := must(f.Create("/s/r1", cat))
		c.ok(a, p1, -1)
		if err := f.Rename("/s/r1", "/s/r2"); err != nil {
			t.Fatal(err)
		}
		b := must(f.OpenReadWrite("/s/r2", cat))
		c.refused(b, "/s/r2", p2, 0, 0)
		c.ok(a, p1, -1)
		c.refused(b, "/s/r2", p2, 4000, 4000)
		a.Close()
		b.Close()
	})

	t.Run("create over", func(t *testing.T) {
		c.t = t
		a := must(f.Create("/s/o", cat))
		c.ok(a, p1, -1)
		c1 := rawAt(t, base, "/s/o", 0, 4096)
		b := must(f.Create("/s/o", cat)) // a is still open
		c.ok(b, p2, -1)
		c.ok(a, p1, -1) // the old file, its own keystream
		if bytes.Equal(xorBytes(c1, rawAt(t, base, "/s/o", 0, 4096)), xorBytes(p1, p2)) {
			t.Fatal("Create over a name reused the old keystream")
		}
		c.refused(b, "/s/o", p1, 0, 0)
		a.Close()
		b.Close()
	})

	t.Run("reuse", func(t *testing.T) {
		c.t = t
		a := must(f.Create("/s/000001.log", cat))
		c.ok(a, p1, -1)
		a.Close()
		c1 := rawAt(t, base, "/s/000001.log", 0, 4096)
		b := must(f.ReuseForWrite("/s/000001.log", "/s/000002.log", cat))
		c.ok(b, p2, -1)
		if bytes.Equal(xorBytes(c1, rawAt(t, base, "/s/000002.log", 0, 4096)), xorBytes(p1, p2)) {
			t.Fatal("ReuseForWrite reused the old keystream")
		}
		c.refused(b, "/s/000002.log", p1, 0, 0)
		b.Close()
	})
}

// TestOverwritePlaintext: files with no keystream (a plaintext store) are
// written over as before.
func TestOverwritePlaintext(t *testing.T) {
	f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, keys.MethodPlaintext))
	defer mustClose(t, f)
	c := overwriteCase{t: t, fs: f}
	w := mustFile(t)(f.OpenReadWrite("/s/p", vfs.WriteCategoryUnspecified))
	defer w.Close()
	c.ok(w, []byte("first"), 0)
	c.ok(w, []byte("again"), 0)
	c.readsBack(w, []byte("again"), 0)
}

// TestOverwriteConcurrent: writers racing for the same blocks through two
// handles: exactly one write of each block succeeds, and the block holds
// its bytes.
func TestOverwriteConcurrent(t *testing.T) {
	base := vfs.NewMem()
	f := mustOpen(t, base, "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	must := mustFile(t)
	const blocks, size, writers = 64, 512, 8
	h := []vfs.File{must(f.OpenReadWrite("/s/x", vfs.WriteCategoryUnspecified))}
	// The second handle counts the file's size at open as written: the
	// blocks begin past it.
	if _, err := h[0].WriteAt([]byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	h = append(h, must(f.OpenReadWrite("/s/x", vfs.WriteCategoryUnspecified)))
	var wins [blocks]atomic.Int32
	var winner [blocks]atomic.Int32
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for _, b := range rand.Perm(blocks) {
				p := bytes.Repeat([]byte{byte(g)}, size)
				_, err := h[g%2].WriteAt(p, 1+int64(b*size))
				switch {
				case err == nil:
					wins[b].Add(1)
					winner[b].Store(int32(g))
				case !errors.Is(err, ErrOverwrite):
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for b := range blocks {
		if n := wins[b].Load(); n != 1 {
			t.Fatalf("block %d written %d times", b, n)
		}
		want := bytes.Repeat([]byte{byte(winner[b].Load())}, size)
		got := make([]byte, size)
		if _, err := h[0].ReadAt(got, 1+int64(b*size)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("block %d does not hold its winner's bytes", b)
		}
	}
	for _, w := range h {
		w.Close()
	}
}

// halfAtFS makes WriteAt of files named "h" take half of its buffer and
// fail, as a full disk does.
type halfAtFS struct{ vfs.FS }
type halfAtFile struct{ vfs.File }

func (s halfAtFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := s.FS.OpenReadWrite(name, c, opts...)
	if err != nil || s.PathBase(name) != "h" {
		return f, err
	}
	return halfAtFile{f}, nil
}

func (h halfAtFile) WriteAt(p []byte, off int64) (int, error) {
	n, _ := h.File.WriteAt(p[:(len(p)+1)/2], off)
	if n < len(p) {
		return n, errShort
	}
	return n, nil
}

// TestShortWriteAtRetry: bytes a short WriteAt did not write are not
// counted as written, so retrying the remainder (Pebble's ENOSPC wrapper
// does) works; the bytes it did write are.
func TestShortWriteAtRetry(t *testing.T) {
	f := mustOpen(t, halfAtFS{vfs.NewMem()}, "/s", testConfig(t, keys.MethodSM4CTR))
	defer mustClose(t, f)
	w := mustFile(t)(f.OpenReadWrite("/s/h", vfs.WriteCategoryUnspecified))
	defer w.Close()
	p := randBytes(100)
	n, err := w.WriteAt(p, 0)
	if n != 50 || !errors.Is(err, errShort) {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if _, err := w.WriteAt(p[:10], 40); !errors.Is(err, ErrOverwrite) {
		t.Fatalf("rewrite of written bytes: %v", err)
	}
	for off := n; off < len(p); {
		k, err := w.WriteAt(p[off:], int64(off))
		if k == 0 {
			t.Fatalf("retry wrote nothing: %v", err)
		}
		off += k
	}
	got := make([]byte, len(p))
	if _, err := w.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, p) {
		t.Fatal("retried write reads back wrong")
	}
}

// recFS records every byte written to its files: a byte written twice
// with different values under one keystream is two plaintexts XORed with
// the same keystream byte. Files are keyed by name; Create and
// ReuseForWrite (a fresh entry, a fresh keystream) start a name afresh.
type recFS struct {
	vfs.FS
	mu    sync.Mutex
	files map[string]*recBytes
}

type recBytes struct {
	data    []byte
	written []bool
	reused  int // bytes written again with other ciphertext
}

type recFile struct {
	vfs.File
	fs   *recFS
	name string
	pos  int64
}

func newRecFS(fs vfs.FS) *recFS { return &recFS{FS: fs, files: map[string]*recBytes{}} }

func (r *recFS) wrap(name string, fresh bool, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	r.mu.Lock()
	if fresh || r.files[name] == nil {
		r.files[name] = &recBytes{}
	}
	r.mu.Unlock()
	return &recFile{File: f, fs: r, name: name}, nil
}

func (r *recFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := r.FS.Create(name, c)
	return r.wrap(name, true, f, err)
}

func (r *recFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := r.FS.OpenReadWrite(name, c, opts...)
	return r.wrap(name, false, f, err)
}

func (r *recFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := r.FS.ReuseForWrite(old, name, c)
	return r.wrap(name, true, f, err)
}

func (r *recFS) reused(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.files[name]; b != nil {
		return b.reused
	}
	return 0
}

func (r *recFS) record(name string, p []byte, off int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.files[name]
	if end := int(off) + len(p); end > len(b.data) {
		b.data = append(b.data, make([]byte, end-len(b.data))...)
		b.written = append(b.written, make([]bool, end-len(b.written))...)
	}
	for i, v := range p {
		j := int(off) + i
		if b.written[j] && b.data[j] != v {
			b.reused++
		}
		b.data[j], b.written[j] = v, true
	}
}

func (f *recFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.fs.record(f.name, p[:n], f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.fs.record(f.name, p[:n], off)
	return n, err
}

// TestWrittenSet checks the written set against a bitmap under random
// reservations, additions and removals, in either form (one range from 0,
// which appends extend with a compare-and-swap, or spans), and that its
// spans stay sorted, disjoint and non-adjacent.
func TestWrittenSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var w written
		var model [256]bool
		for range 100 {
			lo := rng.Int64N(240)
			if e := w.end.Load(); e >= 0 && e < 240 && rng.IntN(2) == 0 {
				lo = e // an append, while the set is one range from 0
			}
			n := 1 + rng.IntN(16)
			hi := lo + int64(n)
			switch op := rng.IntN(10); {
			case op < 7:
				first := int64(-1)
				for i := lo; i < hi; i++ {
					if model[i] {
						first = i
						break
					}
				}
				at, ok := w.reserve(lo, n)
				if ok != (first < 0) || (!ok && at != first) {
					t.Fatalf("reserve(%d, %d) = %d, %v; model says first written byte %d", lo, n, at, ok, first)
				}
				if ok {
					for i := lo; i < hi; i++ {
						model[i] = true
					}
				}
			case op < 9:
				w.add(lo, hi)
				for i := lo; i < hi; i++ {
					model[i] = true
				}
			default:
				w.remove(lo, hi)
				for i := lo; i < hi; i++ {
					model[i] = false
				}
			}
			var got [256]bool
			if e := w.end.Load(); e >= 0 {
				for j := range e {
					got[j] = true
				}
				if got != model {
					t.Fatalf("[0, %d) differs from the model", e)
				}
				continue
			}
			for i, sp := range w.spans {
				if sp.lo >= sp.hi || (i > 0 && w.spans[i-1].hi >= sp.lo) {
					t.Fatalf("spans %v: not sorted, disjoint and non-adjacent", w.spans)
				}
				for j := sp.lo; j < sp.hi; j++ {
					got[j] = true
				}
			}
			if got != model {
				t.Fatalf("spans %v differ from the model", w.spans)
			}
		}
	}
}

// TestPebbleNeverReusesKeystream runs Pebble on the engine over a base FS
// that records every ciphertext byte each file receives: through WAL
// recycling, flushes, compactions, deletions and reopens, no byte offset of
// any file is ever written twice with different ciphertext under one
// entry (Create and ReuseForWrite start a name afresh; they get a fresh
// keystream).
func TestPebbleNeverReusesKeystream(t *testing.T) {
	for _, m := range []keys.Method{keys.MethodAES128CTR, keys.MethodSM4CTR} {
		t.Run(m.String(), func(t *testing.T) {
			rec := newRecFS(vfs.NewMem())
			cfg := testConfig(t, m)
			for round := range 3 {
				f := mustOpen(t, rec, "/s", cfg)
				opts := pebbleOptions(f)
				opts.MemTableSize = 64 << 10 // flushes, compactions, recycled WALs
				db, err := pebble.Open("/s", opts)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 4000 {
					k := canaryKey(i % 1500)
					if i%7 == 0 {
						err = db.Delete(k, pebble.NoSync)
					} else {
						err = db.Set(k, canaryValue(i+round), pebble.NoSync)
					}
					if err != nil {
						t.Fatal(err)
					}
					if i%500 == 0 {
						if err := db.LogData(nil, pebble.Sync); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := db.Compact(context.Background(), []byte("a"), []byte("z"), true); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				mustClose(t, f)
			}
			if len(rec.files) < 5 {
				t.Fatalf("only %d files written: the workload proves nothing", len(rec.files))
			}
			for name := range rec.files {
				if n := rec.reused(name); n > 0 {
					t.Errorf("%s: %d bytes written twice with different ciphertext under one keystream", name, n)
				}
			}
		})
	}
}

// TestWrittenSetConcurrent: appends by compare-and-swap, spans
// under the mutex and removals of short writes, from several goroutines on
// one keystream, never let two live claims share a byte.
func TestWrittenSetConcurrent(t *testing.T) {
	const size = 512
	for iter := range 20 {
		w := &written{}
		var owner [size]atomic.Int32
		var twice atomic.Int32
		var wg sync.WaitGroup
		for g := int32(1); g <= 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), uint64(iter)))
				for range 300 {
					lo := rng.Int64N(size - 20)
					if e := w.end.Load(); e >= 0 && e <= size-20 && rng.IntN(2) == 0 {
						lo = e
					}
					n := 1 + rng.IntN(16)
					ok := w.append(lo, n)
					if !ok {
						_, ok = w.reserve(lo, n)
					}
					if !ok {
						continue
					}
					for i := lo; i < lo+int64(n); i++ {
						if !owner[i].CompareAndSwap(0, g) {
							twice.Add(1)
						}
					}
					if rng.IntN(3) == 0 { // a short write gives back its tail
						cut := lo + int64(rng.IntN(n))
						for i := cut; i < lo+int64(n); i++ {
							owner[i].Store(0)
						}
						w.remove(cut, lo+int64(n))
					}
				}
			}()
		}
		wg.Wait()
		if n := twice.Load(); n > 0 {
			t.Fatalf("iteration %d: %d bytes claimed twice", iter, n)
		}
	}
}

// TestWriteAtWrappingOffset: a WriteAt whose end does not fit in
// an int64 (the OS refuses it) left the written set a span whose end had
// wrapped negative, past which every range counted as an append: the
// next write over bytes already written was accepted, with the same
// keystream. It is refused before the set changes.
func TestWriteAtWrappingOffset(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, vfs.Default, dir, testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	w, err := f.Create(filepath.Join(dir, "000001.log"), vfs.WriteCategoryUnspecified)
	noErr(t, err)
	defer w.Close()
	_, err = w.Write([]byte("first " + canary))
	noErr(t, err)
	if _, err := w.WriteAt(make([]byte, 20), math.MaxInt64-10); err == nil {
		t.Fatal("a write past the largest offset succeeded")
	}
	if _, err := w.WriteAt([]byte("again"), 0); !errors.Is(err, ErrOverwrite) {
		t.Fatalf("a rewrite of byte 0 after a refused wrapping write: %v, want ErrOverwrite", err)
	}
}
