// Package ctrtest is the conformance suite of the seekable CTR packages
// (ctr, sm4): each runs it against every kernel its CPU supports, with a
// reference keystream from an independent implementation.
package ctrtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Seekable is a keystream that can be applied at any byte offset.
type Seekable interface {
	XORKeyStreamAt(dst, src []byte, offset uint64)
}

// Subject is a CTR implementation under test.
type Subject struct {
	KeySizes []int
	// Kernels names every kernel this CPU supports; the first is the
	// portable Go twin the others are compared with.
	Kernels []string
	// New builds a keystream on the named kernel.
	New func(kernel string, key []byte, iv [16]byte) Seekable
	// Reference returns n bytes of an independent implementation's
	// keystream (crypto/cipher.NewCTR over crypto/aes, or gmsm's SM4).
	Reference func(t testing.TB, key []byte, iv [16]byte, n int) []byte
}

// IVBefore returns an IV `blocks` blocks before the counter's low `bits`
// bits (32, 64 or 128) all become zero, the other bits random.
func IVBefore(r *rand.Rand, bits uint, blocks uint64) [16]byte {
	hi, lo := r.Uint64(), r.Uint64()
	switch bits {
	case 32:
		lo = lo&^0xffffffff | (1<<32-blocks)&0xffffffff
	case 64:
		lo = -blocks
	case 128:
		hi, lo = ^uint64(0), -blocks
		if blocks == 0 {
			hi = 0
		}
	}
	var iv [16]byte
	for i := range 8 {
		iv[i] = byte(hi >> (56 - 8*i))
		iv[8+i] = byte(lo >> (56 - 8*i))
	}
	return iv
}

// Fill fills b with bytes from r.
func Fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func (s *Subject) randKey(r *rand.Rand) []byte {
	key := make([]byte, s.KeySizes[r.IntN(len(s.KeySizes))])
	Fill(r, key)
	return key
}

const (
	maxOffset = 1 << 20
	maxLen    = 70 << 10
)

// Differential compares every kernel with the reference over random keys,
// IVs close to the 2^32, 2^64 and 2^128 carries, unaligned offsets up to
// 1 MiB and lengths up to 70 KiB, in place and out of place.
func Differential(t *testing.T, s *Subject) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := 60
	if testing.Short() {
		cases = 12
	}
	for _, k := range s.Kernels {
		t.Run(k, func(t *testing.T) {
			for _, carry := range []uint{0, 32, 64, 128} {
				key := s.randKey(r)
				// Close enough that the carry falls inside the first calls.
				iv := IVBefore(r, carry, uint64(r.IntN(300)))
				if carry == 0 {
					Fill(r, iv[:])
				}
				want := s.Reference(t, key, iv, maxOffset+maxLen)
				ks := s.New(k, key, iv)
				for i := 0; i < cases; i++ {
					off := r.IntN(maxOffset)
					if i%3 == 0 {
						off = r.IntN(8 * 1024) // near the carry
					}
					n := r.IntN(maxLen + 1)
					if i%4 == 0 {
						n = r.IntN(600) // short: heads, tails, few blocks
					}
					src := make([]byte, n)
					Fill(r, src)
					got := make([]byte, n)
					ks.XORKeyStreamAt(got, src, uint64(off))
					for j := range got {
						if got[j] != src[j]^want[off+j] {
							t.Fatalf("%d-byte key, carry %d, off %d, len %d: first wrong byte at %d", len(key), carry, off, n, j)
						}
					}
					inPlace := bytes.Clone(src)
					ks.XORKeyStreamAt(inPlace, inPlace, uint64(off))
					if !bytes.Equal(inPlace, got) {
						t.Fatalf("in place differs from out of place at off %d len %d", off, n)
					}
				}
			}
		})
	}
}

// CrossKernels compares every kernel with the portable one at every length
// from 0 to 40 blocks and around every batch size up to 4 KiB, at every
// start in a block, for every key size, so each kernel's batch sizes and
// remainders (first, middle and last batches) meet both ends of a call.
func CrossKernels(t *testing.T, s *Subject) {
	r := rand.New(rand.NewPCG(3, 4))
	var lengths []int
	for n := 0; n <= 41*16; n++ {
		lengths = append(lengths, n)
	}
	for _, batch := range []int{256, 512, 1024, 2048, 3072, 4096} {
		for n := batch - 17; n <= batch+17; n++ {
			lengths = append(lengths, n)
		}
	}
	src := make([]byte, 4096+17+16)
	Fill(r, src)
	want := make([]byte, len(src))
	got := make([]byte, len(src))
	for _, keyLen := range s.KeySizes {
		key := make([]byte, keyLen)
		Fill(r, key)
		iv := IVBefore(r, 64, 37)
		ref := s.New(s.Kernels[0], key, iv)
		for _, k := range s.Kernels[1:] {
			ks := s.New(k, key, iv)
			for off := range 16 {
				for _, n := range lengths {
					ref.XORKeyStreamAt(want[:n], src[:n], uint64(off))
					ks.XORKeyStreamAt(got[:n], src[:n], uint64(off))
					if !bytes.Equal(got[:n], want[:n]) {
						t.Fatalf("%s, %d-byte key: off %d len %d differs from %s", k, keyLen, off, n, s.Kernels[0])
					}
				}
			}
		}
	}
}

// Wrap128 checks the counter wraps from all ones to zero, inside one call.
func Wrap128(t *testing.T, s *Subject) {
	key := make([]byte, s.KeySizes[0])
	var ones, zero [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	want := s.Reference(t, key, ones, 64*16)
	// Block 1 of the stream is counter 0: check that against the reference
	// directly too, so a shared misreading of the IV cannot pass.
	if !bytes.Equal(s.Reference(t, key, zero, 16), want[16:32]) {
		t.Fatal("reference does not wrap")
	}
	for _, k := range s.Kernels {
		got := make([]byte, len(want))
		s.New(k, key, ones).XORKeyStreamAt(got, got, 0)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: keystream across 2^128 differs", k)
		}
	}
}

// Concurrent uses one keystream object per IV from 16 goroutines at once.
func Concurrent(t *testing.T, s *Subject) {
	r := rand.New(rand.NewPCG(5, 6))
	key := s.randKey(r)
	for _, k := range s.Kernels {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			iv := IVBefore(r, []uint{32, 64, 128}[g%3], uint64(g*5))
			want := s.Reference(t, key, iv, 256<<10)
			ks := s.New(k, key, iv)
			seed := r.Uint64()
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 0))
				buf := make([]byte, 32<<10)
				for range 50 {
					off := r.IntN(len(want) - len(buf))
					n := r.IntN(len(buf))
					clear(buf)
					ks.XORKeyStreamAt(buf[:n], buf[:n], uint64(off))
					if !bytes.Equal(buf[:n], want[off:off+n]) {
						errs <- fmt.Errorf("%s goroutine %d: wrong keystream at %d", k, g, off)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// NoAllocs checks XORKeyStreamAt allocates nothing, for short, unaligned and
// long calls.
func NoAllocs(t *testing.T, s *Subject) {
	buf := make([]byte, 4099)
	for _, k := range s.Kernels {
		ks := s.New(k, make([]byte, s.KeySizes[0]), [16]byte{1})
		for _, c := range []struct{ n, off int }{{4099, 7}, {5, 3}, {16, 0}, {4096, 0}} {
			if a := testing.AllocsPerRun(100, func() { ks.XORKeyStreamAt(buf[:c.n], buf[:c.n], uint64(c.off)) }); a != 0 {
				t.Errorf("%s: XORKeyStreamAt(len %d, offset %d) allocates %.1f times per call", k, c.n, c.off, a)
			}
		}
	}
}

// WritesStayInDst checks no kernel writes outside dst, for every offset in
// a block and lengths around the kernels' batch sizes.
func WritesStayInDst(t *testing.T, s *Subject) {
	const guard = 64
	src := make([]byte, 5000)
	for i := range src {
		src[i] = byte(i * 7)
	}
	buf := make([]byte, guard+len(src)+guard)
	for _, k := range s.Kernels {
		ks := s.New(k, make([]byte, s.KeySizes[0]), [16]byte{15: 0xf0})
		// Past several batch sizes (1 KiB for the widest kernels), so that a
		// loop that miscounts what remains runs off the end here.
		for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 511, 512, 513, 1000, 1100, 2049, 4099, 5000} {
			for off := range 17 {
				for i := range buf {
					buf[i] = 0xa5
				}
				ks.XORKeyStreamAt(buf[guard:guard+n], src[:n], uint64(off))
				if !allA5(buf[:guard]) || !allA5(buf[guard+n:]) {
					t.Fatalf("%s: len %d offset %d wrote outside dst", k, n, off)
				}
			}
		}
	}
}

func allA5(b []byte) bool {
	for _, x := range b {
		if x != 0xa5 {
			return false
		}
	}
	return true
}

// Fuzz checks kernel k against the reference for any key, IV, offset and
// length the fuzzer finds.
func Fuzz(f *testing.F, s *Subject, kernel string) {
	for i, n := range s.KeySizes {
		f.Add(bytes.Repeat([]byte{byte(i + 1)}, n), bytes.Repeat([]byte{0xff}, 16), uint32(4095*i), uint32(100+4000*i))
	}
	f.Fuzz(func(t *testing.T, key, iv []byte, offset, length uint32) {
		if !slices.Contains(s.Kernels, kernel) {
			t.Skipf("this CPU has no %s kernel", kernel)
		}
		if len(iv) != 16 || !slices.Contains(s.KeySizes, len(key)) {
			return
		}
		off, n := int(offset%(1<<20)), int(length%(1<<17))
		want := s.Reference(t, key, [16]byte(iv), off+n)
		got := make([]byte, n)
		s.New(kernel, key, [16]byte(iv)).XORKeyStreamAt(got, got, uint64(off))
		if !bytes.Equal(got, want[off:]) {
			t.Fatalf("%s: %d-byte key, offset %d, length %d: keystream differs from the reference", kernel, len(key), off, n)
		}
	})
}
