package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// BenchmarkFile prices the engine's I/O path: the same ReadAt and Write on
// the base MemFS (impl=base), through the engine (impl=engine), and the
// bare keystream alone (impl=cipher). engine - base should be within 10%
// of cipher: no hidden copy, no allocation (see allocs/op).
func BenchmarkFile(b *testing.B) {
	for _, m := range []keys.Method{keys.MethodAES128CTR, keys.MethodSM4CTR} {
		for _, size := range []int{4 << 10, 64 << 10} {
			for _, op := range []string{"ReadAt", "Write"} {
				for _, impl := range []string{"base", "engine", "cipher"} {
					name := fmt.Sprintf("method=%v/op=%s/size=%dKiB/impl=%s", m, op, size>>10, impl)
					b.Run(name, func(b *testing.B) { benchFile(b, m, op, size, impl) })
				}
			}
		}
	}
}

// sinkFS is a MemFS whose files named "sink" discard what is written, so a
// Write benchmark measures the call path, not MemFS's growing buffer.
type sinkFS struct{ *vfs.MemFS }
type sinkFile struct{ vfs.File }

func (s sinkFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.MemFS.Create(name, c)
	if err != nil || s.PathBase(name) != "sink" {
		return f, err
	}
	return sinkFile{f}, nil
}

func (sinkFile) Write(p []byte) (int, error) { return len(p), nil }

func benchFile(b *testing.B, m keys.Method, op string, size int, impl string) {
	base := sinkFS{vfs.NewMem()}
	f := mustOpen(b, base, "/s", testConfig(b, m))
	defer mustClose(b, f)
	var fs vfs.FS = f
	if impl == "base" {
		fs = base
	}
	buf := make([]byte, size)
	const fileSize = 4 << 20
	w, err := fs.Create("/s/f", vfs.WriteCategoryUnspecified)
	if err != nil {
		b.Fatal(err)
	}
	for range fileSize / size {
		w.Write(buf)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	switch {
	case impl == "cipher":
		kc, err := f.keys.acquire(f.reg.Active().ID())
		if err != nil {
			b.Fatal(err)
		}
		defer f.keys.release(kc)
		ks := kc.newKS([16]byte{})
		b.ResetTimer()
		for i := range b.N {
			ks.XORKeyStreamAt(buf, buf, uint64(i*size%fileSize))
		}
	case op == "Write":
		sink, err := fs.Create("/s/sink", vfs.WriteCategoryUnspecified)
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		b.ResetTimer()
		for range b.N {
			if _, err := sink.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	default:
		r, err := fs.Open("/s/f")
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ResetTimer()
		for i := range b.N {
			if _, err := r.ReadAt(buf, int64(i*size%fileSize)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	w.Close()
}

// BenchmarkReadAtDisk prices ReadAt of 4 KiB on the disk (the page
// cache), where every read is a pread system call, as Pebble's are: what
// the engine adds beyond the cipher there is what the read path touches
// after the call returns.
func BenchmarkReadAtDisk(b *testing.B) {
	for _, m := range []keys.Method{keys.MethodAES128CTR, keys.MethodSM4CTR} {
		for _, impl := range []string{"base", "engine"} {
			b.Run(fmt.Sprintf("method=%v/impl=%s", m, impl), func(b *testing.B) {
				dir := b.TempDir()
				efs := mustOpen(b, vfs.Default, dir, testConfig(b, m))
				defer mustClose(b, efs)
				var fs vfs.FS = efs
				if impl == "base" {
					fs = vfs.Default
				}
				const size, fileSize = 4 << 10, 16 << 20
				buf := make([]byte, size)
				r := zeroFile(b, fs, fs.PathJoin(dir, "f"), fileSize)
				defer r.Close()
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					// A stride of 41 blocks: a new page of the file each time.
					if _, err := r.ReadAt(buf, int64(i*41%(fileSize/size))*size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen100k opens a store whose dictionary holds 100,000 entries
// (all files present): the bound is 200 ms.
func BenchmarkOpen100k(b *testing.B) {
	base := vfs.NewMem()
	cfg := testConfig(b, keys.MethodAES128CTR)
	f := mustOpen(b, base, "/s", cfg)
	for i := range 100_000 {
		w, err := f.Create(fmt.Sprintf("/s/%06d.sst", i), vfs.WriteCategoryUnspecified)
		if err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
	mustClose(b, f)
	b.ResetTimer()
	for range b.N {
		f := mustOpen(b, base, "/s", cfg)
		b.StopTimer()
		if n := f.dict.len(); n != 100_000 {
			b.Fatalf("%d entries", n)
		}
		mustClose(b, f)
		b.StartTimer()
	}
}

// BenchmarkAfterPread prices what a read through the engine does once
// the base file's read has returned: the decryption and what it touches
// to get there. Timing the whole ReadAt drowns it in the pread's own
// scatter, so the base file stamps the time as its read returns
// (stampFS), and "after-read-ns" is the median over the iterations of
// the time from there to ReadAt's return (a mean would carry the
// scheduler's rare long pauses). Blocks are of about Pebble's size, at
// offsets inside a page, as Pebble's are.
//
// fs=disk reads with pread, a system call; fs=mem copies from memory
// (MemFS), no system call. Where the kernel empties the TLB at every
// system call (page-table isolation without PCID, as on this project's
// VMs) the difference is the page walks of what the engine touches after
// pread. cache=cold streams 4 MiB between reads, evicting the L2 cache
// as Pebble's own work between two reads does; cache=warm reads in a
// tight loop.
func BenchmarkAfterPread(b *testing.B) {
	for _, fsName := range []string{"disk", "mem"} {
		for _, cache := range []string{"warm", "cold"} {
			for _, m := range []keys.Method{keys.MethodPlaintext, keys.MethodAES128CTR, keys.MethodSM4CTR} {
				for _, impl := range []string{"base", "engine"} {
					if impl == "base" && m != keys.MethodPlaintext {
						continue
					}
					name := fmt.Sprintf("fs=%s/cache=%s/method=%v/impl=%s", fsName, cache, m, impl)
					b.Run(name, func(b *testing.B) { benchAfterRead(b, fsName, cache, m, impl) })
				}
			}
		}
	}
}

func benchAfterRead(b *testing.B, fsName, cache string, m keys.Method, impl string) {
	const size, fileSize = 2200, 16 << 20
	dir := b.TempDir()
	stamp := &stampFS{FS: vfs.Default}
	if fsName == "mem" {
		stamp.FS = vfs.NewMem()
		if err := stamp.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	var fs vfs.FS = stamp
	if impl == "engine" {
		efs := mustOpen(b, stamp, dir, testConfig(b, m))
		defer mustClose(b, efs)
		fs = efs
	}
	r := zeroFile(b, fs, fs.PathJoin(dir, "f"), fileSize)
	defer r.Close()
	buf := make([]byte, size)
	var evict []byte
	if cache == "cold" {
		evict = make([]byte, 4<<20)
	}
	var after []time.Duration
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		for j := 0; j < len(evict); j += 64 {
			evict[j]++
		}
		// A stride of 41 pages: a new page each time.
		off := int64(i*41%(fileSize/4096-1))*4096 + 5
		if _, err := r.ReadAt(buf, off); err != nil {
			b.Fatal(err)
		}
		after = append(after, time.Since(stamp.last))
	}
	slices.Sort(after)
	b.ReportMetric(float64(after[len(after)/2].Nanoseconds()), "after-read-ns")
}

// zeroFile writes size zero bytes to name through fs and opens it for
// reading.
func zeroFile(b *testing.B, fs vfs.FS, name string, size int) vfs.File {
	w, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r, err := fs.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// stampFS is a file system whose files note the time each ReadAt of the
// file below returns (one reader at a time).
type stampFS struct {
	vfs.FS
	last time.Time
}

type stampFile struct {
	vfs.File
	fs *stampFS
}

func (s *stampFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := s.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return stampFile{f, s}, nil
}

func (f stampFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.fs.last = time.Now()
	return n, err
}
