package ctrmode

import (
	"crypto/cipher"
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

type stream struct {
	pkg string
	ks  Seekable
	off uint64
}

func (s *stream) XORKeyStream(dst, src []byte) {
	s.ks.XORKeyStreamAt(dst, src, s.off)
	var carry uint64
	s.off, carry = bits.Add64(s.off, uint64(len(src)), 0)
	if carry != 0 {
		panic(s.pkg + ": stream offset overflows 2^64 bytes")
	}
}
