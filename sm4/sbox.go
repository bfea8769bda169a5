package sm4

import "math/bits"

// The SM4 S-box is affine, inverse, affine over GF(2^8) with the field
// polynomial x^8+x^7+x^6+x^5+x^4+x^2+1: S(x) = A(inv(A(x) ^ C)) ^ C, where
// A is the circulant bit matrix whose row i is 0xA7 rotated left by i, and
// C = 0xD3. It is computed from that definition here, so no table is copied
// from anywhere; the known-answer tests pin it to the standard. The vector
// kernels use the same structure.
const (
	sboxPoly   = 0x1f5
	sboxMatrix = 0xa7
	sboxConst  = 0xd3
)

// gfMul multiplies in SM4's GF(2^8), in constant time.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		a = a<<1 ^ sboxPoly&0xff&-(a>>7)
		b >>= 1
	}
	return p
}

// gfInv is x^254: the inverse, and 0 for 0.
func gfInv(x byte) byte {
	x2 := gfMul(x, x)
	x3 := gfMul(x2, x)
	x6 := gfMul(x3, x3)
	x12 := gfMul(x6, x6)
	x15 := gfMul(x12, x3)
	x30 := gfMul(x15, x15)
	x60 := gfMul(x30, x30)
	x120 := gfMul(x60, x60)
	x126 := gfMul(x120, x6)
	x252 := gfMul(x126, x126)
	return gfMul(x252, x2)
}

// affine applies the matrix A: bit i of the result is the parity of x and
// row i.
func affine(x byte) byte {
	var out byte
	for i := range 8 {
		out |= byte(bits.OnesCount8(bits.RotateLeft8(sboxMatrix, i)&x)&1) << i
	}
	return out
}

// sboxCT is the S-box, in constant time.
func sboxCT(x byte) byte {
	return affine(gfInv(affine(x)^sboxConst)) ^ sboxConst
}

// tauCT is τ: the S-box on each byte of a word, in constant time.
func tauCT(w uint32) uint32 {
	return uint32(sboxCT(byte(w>>24)))<<24 | uint32(sboxCT(byte(w>>16)))<<16 |
		uint32(sboxCT(byte(w>>8)))<<8 | uint32(sboxCT(byte(w)))
}
