package engine

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	gmsm "github.com/emmansun/gmsm/sm4"
	"github.com/tde-go/tde/keys"
)

// referenceStream is the keystream of e computed by the standard library
// (AES) or gmsm (SM4), not by tde's kernels: the check that what the engine
// stores is exactly CTR under the recorded key and IV.
func referenceStream(t *testing.T, f *FS, e entry) cipher.Stream {
	t.Helper()
	dk, err := f.reg.Key(e.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	var b cipher.Block
	if e.Method == keys.MethodSM4CTR {
		b, err = gmsm.NewCipher(dk.Key())
	} else {
		b, err = aes.NewCipher(dk.Key())
	}
	if err != nil {
		t.Fatal(err)
	}
	return cipher.NewCTR(b, e.IV[:])
}

func randomBytes(r *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFileIsCTR writes through the FS in pieces of odd sizes and checks the
// stored bytes against an independent CTR implementation, then reads them
// back with Read, ReadAt at random offsets, and through a second handle.
func TestFileIsCTR(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, m := range encrypting {
		t.Run(m.String(), func(t *testing.T) {
			base := vfs.NewMem()
			f := mustOpen(t, base, "/s", testConfig(t, m))
			defer mustClose(t, f)
			want := randomBytes(r, 70000)
			w, err := f.Create("/s/a.sst", vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < len(want); {
				n := min(len(want)-off, 1+r.IntN(9000))
				p := bytes.Clone(want[off : off+n])
				if _, err := w.Write(p); err != nil {
					t.Fatal(err)
				}
				off += n
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			e, ok := f.dict.get("a.sst")
			if !ok || e.Method != m {
				t.Fatalf("entry %+v, %v; want method %v", e, ok, m)
			}
			raw := rawFiles(t, base, "/s")["/s/a.sst"]
			dec := make([]byte, len(raw))
			referenceStream(t, f, e).XORKeyStream(dec, raw)
			if !bytes.Equal(dec, want) {
				t.Fatal("stored bytes are not CTR of the plaintext under the recorded key and IV")
			}
			if bytes.Equal(raw[:64], want[:64]) {
				t.Fatal("stored bytes are the plaintext")
			}

			rf, err := f.Open("/s/a.sst")
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			got, err := io.ReadAll(rf)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Read: %v, equal %v", err, bytes.Equal(got, want))
			}
			for range 200 {
				off := r.IntN(len(want))
				n := r.IntN(len(want) - off + 1)
				p := make([]byte, n)
				if _, err := rf.ReadAt(p, int64(off)); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(p, want[off:off+n]) {
					t.Fatalf("ReadAt(%d, %d) differs", off, n)
				}
			}
		})
	}
}

// TestFreshIVs: a file created again under the same name, and a recycled
// WAL, never reuse the keystream of what was there.
func TestFreshIVs(t *testing.T) {
	base := vfs.NewMem()
	f := mustOpen(t, base, "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	write := func(name string) entry {
		w, err := f.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, 100))
		w.Close()
		e, _ := f.dict.get(f.mustRel(t, name))
		return e
	}
	e1 := write("/s/000001.log")
	e2 := write("/s/000001.log")
	if e1.IV == e2.IV {
		t.Fatal("Create over an existing name kept the IV")
	}
	w, err := f.ReuseForWrite("/s/000001.log", "/s/000002.log", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 10))
	w.Close()
	e3, ok := f.dict.get("000002.log")
	if !ok || e3.IV == e2.IV {
		t.Fatalf("ReuseForWrite: entry %v %+v kept the old IV", ok, e3)
	}
	if _, ok := f.dict.get("000001.log"); ok {
		t.Fatal("ReuseForWrite left the old name's entry")
	}
	// The reused file's first bytes decrypt under the new IV; the rest is
	// old ciphertext, which must not decrypt to the old plaintext (zeros).
	rf, _ := f.Open("/s/000002.log")
	got, _ := io.ReadAll(rf)
	rf.Close()
	if len(got) != 100 || !bytes.Equal(got[:10], make([]byte, 10)) || bytes.Equal(got[10:], make([]byte, 90)) {
		t.Fatalf("reused WAL reads %x", got)
	}
}

func (f *FS) mustRel(t *testing.T, name string) string {
	rel, err := f.relPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestWriteAtLeavesBufferAlone: WriteAt must not modify its argument.
func TestWriteAtLeavesBufferAlone(t *testing.T) {
	f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, keys.MethodSM4CTR))
	defer mustClose(t, f)
	w, err := f.OpenReadWrite("/s/cache", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte("abcdefgh"), 20000) // spans several scratch buffers
	orig := bytes.Clone(p)
	if _, err := w.WriteAt(p, 1000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, orig) {
		t.Fatal("WriteAt modified the caller's buffer")
	}
	got := make([]byte, len(p))
	if _, err := w.ReadAt(got, 1000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, orig) {
		t.Fatal("ReadAt after WriteAt differs")
	}
	w.Close()
}

// shortFS makes every Write take only half of its buffer and fail.
type shortFS struct{ vfs.FS }
type shortFile struct{ vfs.File }

func (s shortFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.FS.Create(name, c)
	if err != nil || name != "/s/x" {
		return f, err
	}
	return shortFile{f}, nil
}

var errShort = errors.New("short write")

// Write takes half of p (at least a byte) and fails if that is not all.
func (s shortFile) Write(p []byte) (int, error) {
	n, _ := s.File.Write(p[:(len(p)+1)/2])
	if n < len(p) {
		return n, errShort
	}
	return n, nil
}

// TestShortWriteRestoresTail: after a partial write the unwritten part of
// the buffer is plaintext again, so a retry of the remainder (what Pebble's
// ENOSPC wrapper does) stores the right bytes.
func TestShortWriteRestoresTail(t *testing.T) {
	f := mustOpen(t, shortFS{vfs.NewMem()}, "/s", testConfig(t, keys.MethodAES256CTR))
	defer mustClose(t, f)
	w, err := f.Create("/s/x", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	p := []byte("0123456789abcdefghijklmnopqrstuv")
	n, err := w.Write(p)
	if n != 16 || !errors.Is(err, errShort) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if string(p[16:]) != "ghijklmnopqrstuv" {
		t.Fatalf("unwritten tail left as %x", p[16:])
	}
	for off := n; off < len(p); {
		n, err := w.Write(p[off:])
		if n == 0 {
			t.Fatalf("retry wrote nothing: %v", err)
		}
		off += n
	}
	w.Close()
	r, _ := f.Open("/s/x")
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "0123456789abcdefghijklmnopqrstuv" {
		t.Fatalf("file reads %q after retried writes", got)
	}
}

// TestConcurrentReaders reads one file from 16 goroutines at random offsets
// (run under -race in CI).
func TestConcurrentReaders(t *testing.T) {
	f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	want := randomBytes(mrand.New(mrand.NewPCG(3, 4)), 1<<20)
	w, _ := f.Create("/s/big.sst", vfs.WriteCategoryUnspecified)
	w.Write(bytes.Clone(want))
	w.Close()
	rf, err := f.Open("/s/big.sst")
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(g), 9))
			p := make([]byte, 8192)
			for range 300 {
				off := r.IntN(len(want) - len(p))
				n := 1 + r.IntN(len(p))
				if _, err := rf.ReadAt(p[:n], int64(off)); err != nil {
					errs <- err.Error()
					return
				}
				if !bytes.Equal(p[:n], want[off:off+n]) {
					errs <- "mismatch"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestReservedNames: the engine's own files cannot be touched through it.
func TestReservedNames(t *testing.T) {
	f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	for _, n := range []string{"/s/TDE-KEYS", "/s/TDE-LOCK", "/s/" + f.PathBase(f.dict.logPath())} {
		if _, err := f.Create(n, vfs.WriteCategoryUnspecified); !errors.Is(err, ErrReservedName) {
			t.Errorf("Create(%s) = %v, want ErrReservedName", n, err)
		}
		if err := f.Remove(n); !errors.Is(err, ErrReservedName) {
			t.Errorf("Remove(%s) = %v, want ErrReservedName", n, err)
		}
		if err := f.Rename("/s/other", n); !errors.Is(err, ErrReservedName) {
			t.Errorf("Rename(.., %s) = %v, want ErrReservedName", n, err)
		}
	}
	if err := f.RemoveAll("/s"); !errors.Is(err, ErrReservedName) {
		t.Errorf("RemoveAll(store) = %v, want ErrReservedName", err)
	}
}

// TestCloseRefusesOpenFiles: Close with a file open fails and changes
// nothing; after the file is closed it succeeds.
func TestCloseRefusesOpenFiles(t *testing.T) {
	f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, keys.MethodAES128CTR))
	w, _ := f.Create("/s/a", vfs.WriteCategoryUnspecified)
	if err := f.Close(); !errors.Is(err, ErrFilesOpen) {
		t.Fatalf("Close with an open file = %v, want ErrFilesOpen", err)
	}
	if _, err := w.Write([]byte("still works")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	mustClose(t, f)
	if _, err := f.Create("/s/b", vfs.WriteCategoryUnspecified); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close = %v, want ErrClosed", err)
	}
}
