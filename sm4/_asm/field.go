package main

import (
	"fmt"
	"math/bits"
)

// The SM4 S-box is S(x) = A·inv_f(A·x ⊕ C) ⊕ C, with inv_f the inverse in
// GF(2^8) modulo f = x^8+x^7+x^6+x^5+x^4+x^2+1, A the circulant bit matrix
// of 0xA7 and C = 0xD3 (see sbox.go in the package). GFNI and AES-NI invert
// in the AES field, modulo g = x^8+x^4+x^3+x+1. A field isomorphism Φ (a
// linear map, x^i ↦ β^i for a root β of f in the AES field) moves between
// the two: inv_f(y) = Φ⁻¹·inv_g(Φ·y), so
//
//	S(x) = (A·Φ⁻¹)·inv_g((Φ·A)·x ⊕ Φ·C) ⊕ C
//
// which is one GF2P8AFFINEQB (matrix Φ·A, constant Φ·C) and one
// GF2P8AFFINEINVQB (matrix A·Φ⁻¹, constant C). Everything here is derived,
// and checked against the S-box for all 256 inputs before any code is
// written.
const (
	polySM4 = 0x1f5
	polyAES = 0x11b
	sboxA   = 0xa7
	sboxC   = 0xd3
)

// matrix is an 8x8 bit matrix: row i gives output bit i as the parity of
// row i AND the input byte.
type matrix [8]byte

func (m matrix) apply(x byte) byte {
	var y byte
	for i, row := range m {
		y |= byte(bits.OnesCount8(row&x)&1) << i
	}
	return y
}

// mul returns m·n (apply n, then m).
func (m matrix) mul(n matrix) matrix {
	var cols [8]byte // column j of the product is m·(n·e_j)
	for j := range 8 {
		cols[j] = m.apply(n.apply(1 << j))
	}
	return fromColumns(cols)
}

func fromColumns(cols [8]byte) matrix {
	var m matrix
	for i := range 8 {
		for j, c := range cols {
			m[i] |= (c >> i & 1) << j
		}
	}
	return m
}

// inverse inverts m by tabulating the (bijective) map.
func (m matrix) inverse() matrix {
	var inv [256]byte
	for x := range 256 {
		inv[m.apply(byte(x))] = byte(x)
	}
	var cols [8]byte
	for j := range 8 {
		cols[j] = inv[1<<j]
	}
	return fromColumns(cols)
}

// gfni is the qword operand of GF2P8AFFINEQB: byte 7-i is row i.
func (m matrix) gfni() uint64 {
	var q uint64
	for i, row := range m {
		q |= uint64(row) << (8 * (7 - i))
	}
	return q
}

func gfMul(a, b byte, poly uint16) byte {
	var p uint16
	for i := range 8 {
		if b>>i&1 == 1 {
			p ^= uint16(a) << i
		}
	}
	for i := 15; i >= 8; i-- {
		if p>>i&1 == 1 {
			p ^= poly << (i - 8)
		}
	}
	return byte(p)
}

func gfInv(x byte, poly uint16) byte {
	for y := 1; y < 256 && x != 0; y++ {
		if gfMul(x, byte(y), poly) == 1 {
			return byte(y)
		}
	}
	return 0
}

func circulant(row byte) matrix {
	var m matrix
	for i := range m {
		m[i] = bits.RotateLeft8(row, i)
	}
	return m
}

// sboxAffine holds the two affine maps of the GFNI S-box.
type sboxAffine struct {
	pre, post           matrix
	preConst, postConst byte
}

// deriveSbox finds Φ and the two maps, and checks them.
func deriveSbox() sboxAffine {
	a := circulant(sboxA)
	var beta byte
	for b := 2; b < 256 && beta == 0; b++ {
		// f(β) = 0 in the AES field.
		acc, pow := byte(0), byte(1)
		for i := 0; i <= 8; i++ {
			if polySM4>>i&1 == 1 {
				acc ^= pow
			}
			pow = gfMul(pow, byte(b), polyAES)
		}
		if acc == 0 {
			beta = byte(b)
		}
	}
	var cols [8]byte
	pow := byte(1)
	for i := range 8 {
		cols[i] = pow
		pow = gfMul(pow, beta, polyAES)
	}
	phi := fromColumns(cols)
	s := sboxAffine{pre: phi.mul(a), preConst: phi.apply(sboxC), post: a.mul(phi.inverse()), postConst: sboxC}
	for x := range 256 {
		want := a.apply(gfInv(a.apply(byte(x))^sboxC, polySM4)) ^ sboxC
		got := s.post.apply(gfInv(s.pre.apply(byte(x))^s.preConst, polyAES)) ^ s.postConst
		if got != want {
			panic(fmt.Sprintf("derived GFNI S-box wrong at %#02x: %#02x, want %#02x", x, got, want))
		}
	}
	return s
}
