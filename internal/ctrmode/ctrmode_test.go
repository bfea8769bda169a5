package ctrmode

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestAdd128(t *testing.T) {
	for _, c := range []struct{ hi, lo, x, wantHi, wantLo uint64 }{
		{0, 0, 1, 0, 1},
		{0, ^uint64(0), 1, 1, 0},
		{^uint64(0), ^uint64(0), 1, 0, 0}, // wraps at 2^128
		{5, ^uint64(0) - 2, 10, 6, 7},
	} {
		if hi, lo := Add128(c.hi, c.lo, c.x); hi != c.wantHi || lo != c.wantLo {
			t.Errorf("Add128(%#x, %#x, %d) = %#x, %#x; want %#x, %#x", c.hi, c.lo, c.x, hi, lo, c.wantHi, c.wantLo)
		}
	}
}

func TestBlocksUntilWrap(t *testing.T) {
	for _, c := range []struct{ lo, n, want uint64 }{
		{0, 100, 100},                                // a fresh low half never wraps within 2^64 blocks
		{^uint64(0), 100, 1},                         // the last value before the wrap
		{^uint64(0) - 9, 100, 10},                    // ten blocks to go
		{^uint64(0) - 9, 10, 10},                     // exactly up to the wrap
		{^uint64(0) - 9, 3, 3},                       // not reached
		{1 << 63, 1 << 62, 1 << 62},                  // far away
		{^uint64(0) - (1<<40 - 1), 1 << 41, 1 << 40}, // cut at 2^64
	} {
		if got := BlocksUntilWrap(c.lo, c.n); got != c.want {
			t.Errorf("BlocksUntilWrap(%#x, %d) = %d, want %d", c.lo, c.n, got, c.want)
		}
		if got, want := Wraps(c.lo, c.n), c.want < c.n; got != want {
			t.Errorf("Wraps(%#x, %d) = %v, want %v", c.lo, c.n, got, want)
		}
	}
}

func TestInexactOverlap(t *testing.T) {
	b := make([]byte, 64)
	for _, c := range []struct {
		x, y []byte
		want bool
	}{
		{b[0:10], b[0:10], false}, // exact: allowed in place
		{b[0:10], b[10:20], false},
		{b[0:10], b[9:20], true},
		{b[5:10], b[0:6], true},
		{b[0:0], b[0:10], false},
		{b[1:11], b[0:10], true},
	} {
		if got := InexactOverlap(c.x, c.y); got != c.want {
			t.Errorf("InexactOverlap(b[%d:], b[%d:]) = %v, want %v", cap(b)-cap(c.x), cap(b)-cap(c.y), got, c.want)
		}
	}
}

// byteStream is a Seekable whose keystream byte at offset o is a mix of o,
// so a byte applied at the wrong offset shows.
type byteStream struct{ calls *int }

func (b byteStream) XORKeyStreamAt(dst, src []byte, offset uint64) {
	*b.calls++
	for i := range src {
		o := offset + uint64(i)
		dst[i] = src[i] ^ byte(o*0x9e3779b1>>24) ^ byte(o>>56)
	}
}

// TestStreamBuffered: a Stream applied in chunks of every size, small ones
// served from its buffer and large ones from the kernel, gives the bytes
// of one XORKeyStreamAt over the whole, from any start (the end of the
// 2^64-byte keystream included); and small calls share kernel calls: one
// per streamBuf bytes of them.
func TestStreamBuffered(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 3, 16, 17, 511, 512, 513, 1000}
	for _, start := range []uint64{0, 7, 1 << 40, ^uint64(0) - 4799} {
		for _, maxSize := range []int{len(sizes), 4} { // every size; small ones only
			calls := 0
			ks := byteStream{&calls}
			s := NewStream("test", ks, start)
			src := make([]byte, 4800)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			want := make([]byte, len(src))
			ks.XORKeyStreamAt(want, src, start)
			calls = 0
			got := make([]byte, len(src))
			for done := 0; done < len(src); {
				n := min(len(src)-done, sizes[r.IntN(maxSize)])
				s.XORKeyStream(got[done:done+n], src[done:done+n])
				done += n
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("start %d: the chunked stream differs from one call", start)
			}
			if most := len(src)/streamBuf + 1; maxSize == 4 && calls > most {
				t.Errorf("start %d: %d kernel calls for %d bytes in small chunks, want at most %d", start, calls, len(src), most)
			}
		}
	}
}

// TestStreamEnd: a Stream refuses to run past the 2^64-byte keystream,
// writing nothing.
func TestStreamEnd(t *testing.T) {
	calls := 0
	s := NewStream("test", byteStream{&calls}, ^uint64(0)-9)
	buf := make([]byte, 10)
	s.XORKeyStream(buf, buf) // the last 10 bytes
	defer func() {
		if recover() == nil {
			t.Error("a Stream ran past the end of its keystream")
		}
	}()
	s.XORKeyStream(buf[:1], buf[:1])
}
