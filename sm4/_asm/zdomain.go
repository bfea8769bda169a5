package main

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// zDomain holds the maps of the zmm kernel's round, which keeps the state
// in the S-box pre-map's coordinates: Z = pre·X, bytewise (pre is linear
// and bytewise, so it commutes with XOR and with rotations by whole
// bytes). Then the S-box's input pre·(X1^X2^X3^rk) ^ preConst is
// Z1^Z2^Z3^rk' with rk' = pre·rk ^ preConst, and no pre-map is left in
// the round: one GFNI instruction fewer on the chain from one round to the
// next, and one fewer in all: 16 KiB calls 1.18x as fast, 64-byte calls
// 1.30x, 1 MiB 1.10x (benchstat medians of 10, the Zen 5 VM of results/).
//
// With s = post·inv_g(z) ^ C the S-box's output and p, q, r the bytewise
// parts of L (gfniYMMRound), pre·L(s) = P ^ rotl8(Q) ^ rotl16(Q) ^
// rotl24(R) where P = (pre·p)·inv_g(z) ^ pre·pConst, and so on: three
// GF2P8AFFINEINVQB side by side. Counters go in through pre, keystream
// words come out through pre⁻¹: eight GF2P8AFFINEQB per 16 blocks against
// 32 saved.
type zDomain struct {
	p, q, r                matrix
	pConst, qConst, rConst byte
	preInv                 matrix
}

// deriveZDomain derives the maps and checks a whole round against SM4's
// definition for random words and round keys; it panics on a mismatch.
func deriveZDomain(s sboxAffine) zDomain {
	y := deriveGFNIYMMRound(s)
	z := zDomain{
		p: s.pre.mul(y.p), pConst: s.pre.apply(y.pConst),
		q: s.pre.mul(y.q), qConst: s.pre.apply(y.qConst),
		r: s.pre.mul(y.r), rConst: s.pre.apply(y.rConst),
		preInv: s.pre.inverse(),
	}
	bytewise := func(x uint32, f func(byte) byte) uint32 {
		var y uint32
		for j := range 4 {
			y |= uint32(f(byte(x>>(8*j)))) << (8 * j)
		}
		return y
	}
	sbox := func(x byte) byte {
		a := circulant(sboxA)
		return a.apply(gfInv(a.apply(x)^sboxC, polySM4)) ^ sboxC
	}
	toZ := func(x uint32) uint32 { return bytewise(x, s.pre.apply) }
	fromZ := func(x uint32) uint32 { return bytewise(x, z.preInv.apply) }
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4096 {
		x := [4]uint32{rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32()}
		rk := rng.Uint32()
		sx := bytewise(x[1]^x[2]^x[3]^rk, sbox)
		want := x[0] ^ sx ^ bits.RotateLeft32(sx, 2) ^ bits.RotateLeft32(sx, 10) ^ bits.RotateLeft32(sx, 18) ^ bits.RotateLeft32(sx, 24)

		rkz := bytewise(rk, func(b byte) byte { return s.pre.apply(b) ^ s.preConst })
		t := toZ(x[1]) ^ toZ(x[2]) ^ toZ(x[3]) ^ rkz
		inv := func(m matrix, c byte) uint32 {
			return bytewise(t, func(b byte) byte { return m.apply(gfInv(b, polyAES)) ^ c })
		}
		p, q, r := inv(z.p, z.pConst), inv(z.q, z.qConst), inv(z.r, z.rConst)
		got := fromZ(toZ(x[0]) ^ p ^ bits.RotateLeft32(q, 8) ^ bits.RotateLeft32(q, 16) ^ bits.RotateLeft32(r, 24))
		if got != want {
			panic(fmt.Sprintf("z-domain round wrong for %08x, rk %08x: %08x, want %08x", x, rk, got, want))
		}
	}
	return z
}

// zConstants are the z-domain maps in memory, one qword each (broadcast).
type zConstants struct{ p, q, r, preInv Mem }

var zcs *zConstants

func zConsts(z zDomain) *zConstants {
	if zcs != nil {
		return zcs
	}
	qword := func(name string, m matrix) Mem {
		g := GLOBL(name, NOPTR|RODATA)
		DATA(0, U64(m.gfni()))
		return g
	}
	zcs = &zConstants{
		p:      qword("gfniZMMPostP", z.p),
		q:      qword("gfniZMMPostQ", z.q),
		r:      qword("gfniZMMPostR", z.r),
		preInv: qword("sboxPreInv", z.preInv),
	}
	return zcs
}
