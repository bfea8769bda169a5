package ctrmode

import (
	"encoding/binary"
	"math/bits"
)

// Add128 adds x to the 128-bit counter hi||lo, modulo 2^128.
func Add128(hi, lo, x uint64) (uint64, uint64) {
	lo, carry := bits.Add64(lo, x, 0)
	return hi + carry, lo
}

// SplitIV reads a 16-byte IV as a 128-bit big-endian counter.
func SplitIV(iv *[16]byte) (hi, lo uint64) {
	return binary.BigEndian.Uint64(iv[0:8]), binary.BigEndian.Uint64(iv[8:16])
}

// BlocksUntilWrap is how many blocks a kernel may run from low counter lo
// before the low 64 bits wrap, capped at n; kernels only add 64-bit.
func BlocksUntilWrap(lo, n uint64) uint64 {
	if untilWrap := -lo; untilWrap != 0 && n > untilWrap {
		return untilWrap
	}
	return n
}

// Wraps reports whether a run of blocks from low counter lo wraps the low
// 64 bits of the counter.
func Wraps(lo, blocks uint64) bool { return lo != 0 && blocks > -lo }
