package ctrmode

import (
	"crypto/cipher"
	"crypto/subtle"
	"math/bits"
)

// Seekable is a keystream that can be applied at any byte offset.
type Seekable interface {
	XORKeyStreamAt(dst, src []byte, offset uint64)
}

// NewStream returns a cipher.Stream over ks that starts at offset and
// advances as it is used. It has a position, so unlike ks it must not be
// shared between goroutines.
func NewStream(pkg string, ks Seekable, offset uint64) cipher.Stream {
	return &stream{pkg: pkg, ks: ks, off: offset}
}

// streamBuf is how much keystream a Stream makes ahead for small calls.
// A kernel call has a fixed cost (an SM4 call of one block costs as much
// as one of four: its 32 rounds are a chain), which a caller XORing a few
// bytes at a time (a record header, a length) would pay every time;
// crypto/cipher's CTR and gmsm buffer 512 bytes for the same reason.
// Calls of streamBuf bytes or more go straight to the kernel.
const streamBuf = 512

type stream struct {
	pkg   string
	ks    Seekable
	off   uint64
	ended bool // the keystream's last byte is used

	// buf holds the keystream of [bufOff, bufOff+bufLen).
	buf    [streamBuf]byte
	bufOff uint64
	bufLen int
}

func (s *stream) XORKeyStream(dst, src []byte) {
	dst = Check(s.pkg, dst, src)
	end, carry := bits.Add64(s.off, uint64(len(src)), 0)
	if s.ended && len(src) > 0 || carry != 0 && end != 0 {
		panic(s.pkg + ": stream offset overflows 2^64 bytes")
	}
	s.ended = carry != 0 // the call ends at the keystream's last byte
	for len(src) > 0 {
		if s.off >= s.bufOff && s.off-s.bufOff < uint64(s.bufLen) {
			i := int(s.off - s.bufOff)
			n := subtle.XORBytes(dst, src, s.buf[i:s.bufLen])
			dst, src, s.off = dst[n:], src[n:], s.off+uint64(n)
			continue
		}
		if len(src) >= streamBuf {
			s.ks.XORKeyStreamAt(dst, src, s.off)
			s.off += uint64(len(src))
			return
		}
		s.fill()
	}
}

// fill makes the keystream from s.off on, up to streamBuf bytes (fewer at
// the end of the 2^64-byte keystream).
func (s *stream) fill() {
	n := uint64(streamBuf)
	if rest := -s.off; s.off != 0 && rest < n {
		n = rest
	}
	clear(s.buf[:])
	s.ks.XORKeyStreamAt(s.buf[:n], s.buf[:n], s.off)
	s.bufOff, s.bufLen = s.off, int(n)
}
