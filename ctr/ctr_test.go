package ctr

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// stdKeystream returns n bytes of crypto/cipher's AES-CTR keystream.
func stdKeystream(t testing.TB, key []byte, iv [16]byte, n int) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, n)
	cipher.NewCTR(b, iv[:]).XORKeyStream(out, out)
	return out
}

// ivBefore returns an IV that is `blocks` blocks before the counter's low
// `bits` bits all become zero (a carry out of them), hi bits random.
func ivBefore(r *rand.Rand, bits uint, blocks uint64) [16]byte {
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

const (
	maxOffset = 1 << 20
	maxLen    = 70 << 10
)

// TestDifferential compares every kernel with crypto/cipher.NewCTR over
// random keys, IVs close to each carry, unaligned offsets up to 1 MiB and
// lengths up to 70 KiB, in place and out of place.
func TestDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := 60
	if testing.Short() {
		cases = 12
	}
	for _, k := range supportedImpls() {
		t.Run(k.String(), func(t *testing.T) {
			for _, carry := range []uint{0, 32, 64, 128} {
				keyLen := []int{16, 24, 32}[r.IntN(3)]
				key := make([]byte, keyLen)
				fillRand(r, key)
				// Close enough that the carry falls inside the first calls.
				iv := ivBefore(r, carry, uint64(r.IntN(300)))
				if carry == 0 {
					fillRand(r, iv[:])
				}
				want := stdKeystream(t, key, iv, maxOffset+maxLen)
				c, err := newCipher(key, k)
				if err != nil {
					t.Fatal(err)
				}
				ks := c.Keystream(iv)
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
					fillRand(r, src)
					got := make([]byte, n)
					ks.XORKeyStreamAt(got, src, uint64(off))
					checkXOR(t, fmt.Sprintf("AES-%d carry %d off %d len %d", keyLen*8, carry, off, n), got, src, want[off:off+n])

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

func checkXOR(t *testing.T, what string, got, src, ks []byte) {
	t.Helper()
	for i := range got {
		if got[i] != src[i]^ks[i] {
			t.Fatalf("%s: first wrong byte at %d: got %#02x, want %#02x", what, i, got[i], src[i]^ks[i])
		}
	}
}

func fillRand(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestCrossKernels compares every kernel with the generic Go twin at every
// length from 0 to 40 blocks and every start in a block, so each kernel's
// batch sizes and remainders meet both ends of a call.
func TestCrossKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	src := make([]byte, 40*BlockSize+BlockSize)
	fillRand(r, src)
	want := make([]byte, len(src))
	got := make([]byte, len(src))
	for _, keyLen := range []int{16, 24, 32} {
		key := make([]byte, keyLen)
		fillRand(r, key)
		iv := ivBefore(r, 64, 37)
		ref, _ := newCipher(key, implGeneric)
		for _, k := range supportedImpls()[1:] {
			c, _ := newCipher(key, k)
			for off := range BlockSize {
				for n := 0; n+off <= len(src); n++ {
					ref.Keystream(iv).XORKeyStreamAt(want[:n], src[:n], uint64(off))
					c.Keystream(iv).XORKeyStreamAt(got[:n], src[:n], uint64(off))
					if !bytes.Equal(got[:n], want[:n]) {
						t.Fatalf("%v AES-%d: off %d len %d differs from the generic kernel", k, 8*keyLen, off, n)
					}
				}
			}
		}
	}
}

// TestWrap128 checks the counter wraps from all ones to zero, as
// crypto/cipher's does, inside one call and across calls.
func TestWrap128(t *testing.T) {
	key := make([]byte, 16)
	var iv [16]byte
	for i := range iv {
		iv[i] = 0xff
	}
	want := stdKeystream(t, key, iv, 64*BlockSize)
	var zero [16]byte
	// Block 1 of the stream is counter 0: check that against the standard
	// library directly too, so a shared misreading of the IV cannot pass.
	if got := stdKeystream(t, key, zero, BlockSize); !bytes.Equal(got, want[BlockSize:2*BlockSize]) {
		t.Fatal("reference does not wrap")
	}
	for _, k := range supportedImpls() {
		c, _ := newCipher(key, k)
		got := make([]byte, len(want))
		c.Keystream(iv).XORKeyStreamAt(got, got, 0)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: keystream across 2^128 differs", k)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	key := make([]byte, 24)
	fillRand(r, key)
	for _, k := range supportedImpls() {
		c, _ := newCipher(key, k)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			iv := ivBefore(r, []uint{32, 64, 128}[g%3], uint64(g*5))
			want := stdKeystream(t, key, iv, 256<<10)
			seed := r.Uint64()
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 0))
				ks := c.Keystream(iv)
				buf := make([]byte, 32<<10)
				for range 50 {
					off := r.IntN(len(want) - len(buf))
					n := r.IntN(len(buf))
					clear(buf)
					ks.XORKeyStreamAt(buf[:n], buf[:n], uint64(off))
					if !bytes.Equal(buf[:n], want[off:off+n]) {
						errs <- fmt.Errorf("%v goroutine %d: wrong keystream at %d", k, g, off)
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

func TestNoAllocs(t *testing.T) {
	buf := make([]byte, 4099)
	for _, k := range supportedImpls() {
		c, _ := newCipher(make([]byte, 16), k)
		ks := c.Keystream([16]byte{1})
		if n := testing.AllocsPerRun(100, func() { ks.XORKeyStreamAt(buf, buf, 7) }); n != 0 {
			t.Errorf("%v: XORKeyStreamAt allocates %.1f times per call", k, n)
		}
		s := ks.Stream(3)
		if n := testing.AllocsPerRun(100, func() { s.XORKeyStream(buf[:100], buf[:100]) }); n != 0 {
			t.Errorf("%v: Stream.XORKeyStream allocates %.1f times per call", k, n)
		}
	}
}

func TestNewCTRMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, keyLen := range []int{16, 24, 32} {
		key, iv := make([]byte, keyLen), make([]byte, 16)
		fillRand(r, key)
		fillRand(r, iv)
		b, _ := aes.NewCipher(key)
		std := cipher.NewCTR(b, iv)
		ours, err := NewCTR(key, iv)
		if err != nil {
			t.Fatal(err)
		}
		// Uneven chunk sizes keep the stream position off block boundaries.
		for _, n := range []int{1, 15, 16, 17, 100, 4096, 3, 70000} {
			src := make([]byte, n)
			fillRand(r, src)
			want, got := make([]byte, n), make([]byte, n)
			std.XORKeyStream(want, src)
			ours.XORKeyStream(got, src)
			if !bytes.Equal(got, want) {
				t.Fatalf("AES-%d: chunk of %d differs", keyLen*8, n)
			}
		}
	}
}

func TestBadSizes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 23, 31, 33, 64} {
		_, err := NewCipher(make([]byte, n))
		var kse KeySizeError
		if !errors.As(err, &kse) || int(kse) != n {
			t.Errorf("NewCipher with %d-byte key: err = %v, want KeySizeError(%d)", n, err, n)
		} else if !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("error %q does not name the length %d", err, n)
		}
	}
	for _, n := range []int{0, 8, 12, 15, 17, 32} {
		_, err := NewCTR(make([]byte, 16), make([]byte, n))
		var ise IVSizeError
		if !errors.As(err, &ise) || int(ise) != n {
			t.Errorf("NewCTR with %d-byte IV: err = %v, want IVSizeError(%d)", n, err, n)
		}
	}
	if _, err := NewCTR(make([]byte, 20), make([]byte, 16)); !errors.As(err, new(KeySizeError)) {
		t.Errorf("NewCTR with 20-byte key: err = %v, want KeySizeError", err)
	}
}

func TestPanics(t *testing.T) {
	c, _ := NewCipher(make([]byte, 16))
	ks := c.Keystream([16]byte{})
	buf := make([]byte, 64)
	for name, f := range map[string]func(){
		"short dst":       func() { ks.XORKeyStreamAt(buf[:10], buf[20:40], 0) },
		"inexact overlap": func() { ks.XORKeyStreamAt(buf[1:33], buf[0:32], 5) },
		"stream overlap":  func() { ks.Stream(0).XORKeyStream(buf[16:], buf[:48]) },
		"stream wraps":    func() { ks.Stream(^uint64(0)-2).XORKeyStream(buf[:4], buf[:4]) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// Exact overlap and a longer dst are allowed.
	ks.XORKeyStreamAt(buf[8:40], buf[8:40], 3)
	ks.XORKeyStreamAt(buf[:64], buf[:10], 3)
}

// TestNoKeyInFormatting formats a cipher, keystream and stream every way fmt
// can and looks for the key and its round keys in the output.
func TestNoKeyInFormatting(t *testing.T) {
	key := []byte("\x9c\x81\x4a\x11\xd3\x07\xb2\x5e\xaa\x01\x42\x77\xe9\x3c\x58\xc6\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01")
	c, _ := NewCipher(key)
	ks := c.Keystream([16]byte{})
	var out strings.Builder
	for _, v := range []any{c, *c, ks, ks.Stream(0), struct{ C *Cipher }{c}, struct{ k Keystream }{ks}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	s := out.String()
	for r := 0; r <= c.ks.rounds; r++ {
		word := c.ks.rk[16*r : 16*r+4]
		for _, enc := range []string{fmt.Sprintf("%x", word), fmt.Sprintf("%X", word), fmt.Sprint(word), string(word)} {
			if strings.Contains(s, enc) {
				t.Fatalf("round key %d appears in formatted output (as %q):\n%s", r, enc, s)
			}
		}
	}
}
