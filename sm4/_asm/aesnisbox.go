package main

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// The AES-NI S-box. Without GFNI the only hardware inversion in GF(2^8) is
// inside AESENCLAST, which computes SubBytes(ShiftRows(state)) ^ key per
// 128-bit lane, SubBytes being the AES S-box
//
//	SB(y) = A_aes·inv_g(y) ⊕ 0x63
//
// (FIPS-197 5.1.1). So inv_g(y) = A_aes⁻¹·(SB(y) ⊕ 0x63), and from the
// decomposition in field.go, with P = Φ·A and p = Φ·C,
//
//	S(x) = (A·Φ⁻¹)·inv_g(P·x ⊕ p) ⊕ C = M·SB(P·x ⊕ p) ⊕ k
//
// with M = A·Φ⁻¹·A_aes⁻¹ and k = M·0x63 ⊕ C. ShiftRows moves bytes between
// the dwords of a lane; one byte shuffle (invShiftRows) before AESENCLAST
// undoes it, so every byte comes back where it was. A byte map is two
// 16-entry tables, indexed by the low and the high nibble (VPSHUFB) and
// XORed, an affine map's constant folded into the low-nibble table.
//
// Two rewrites take most of the table work out of the round.
//
// The state lives in the AES field's coordinates: the kernel keeps
// Y = P·X ⊕ p (bytewise) instead of each word X. The S-box input is
// X1 ^ X2 ^ X3 ^ rk; mapped, the three copies of p and the one of the
// S-box's own pre-map cancel:
//
//	P·(X1 ^ X2 ^ X3 ^ rk) ⊕ p = Y1 ^ Y2 ^ Y3 ^ P·rk
//
// so with round keys mapped by P once per call, the round's input to
// AESENCLAST costs XORs only. The new word is X0 ^ L(s), s = S(...), which
// maps to Y0 ^ P·L(s) (P is linear and the p's cancel again).
//
// L itself is byte rotations and bytewise maps: rotl2 of a dword takes bits
// 0-5 of each byte up by two (B2: x<<2 mod 256) and the top two bits into
// the next byte up (B6: x>>6, then a rotation by 8). So
//
//	L(s) = s ^ rotl24(s) ^ rotl2(s ^ rotl8(s) ^ rotl16(s))
//	     = (I⊕B2)·s ^ rotl8((B2⊕B6)·s) ^ rotl16((B2⊕B6)·s) ^ rotl24((I⊕B6)·s)
//
// and byte rotations commute with bytewise maps, so P·L(s), with
// s = M·u ⊕ k for the AESENCLAST output u, is bytewise affine maps of u
// and three byte rotations. (I⊕B6) = (I⊕B2) ⊕ (B2⊕B6), so two maps do:
//
//	P·L(s) = p ^ rotl8(q) ^ rotl16(q) ^ rotl24(p ^ q)
//
// with p = pmap(u) and q = qmap(u) below, each P·(…)·M with its constant.
// The S-box's post-map, the shifts of rotl2 and the pre-map of the next
// round all fold into those two table pairs.
const aesC = 0x63

// aesAffine is the affine map of the AES S-box, bit by bit from FIPS-197
// equation 5.1: b'_i = b_i ⊕ b_{i+4} ⊕ b_{i+5} ⊕ b_{i+6} ⊕ b_{i+7} ⊕ c_i,
// indices mod 8, c = 0x63.
func aesAffine(b byte) byte {
	var out byte
	for i := range 8 {
		bit := b>>i ^ b>>((i+4)%8) ^ b>>((i+5)%8) ^ b>>((i+6)%8) ^ b>>((i+7)%8) ^ aesC>>i
		out |= (bit & 1) << i
	}
	return out
}

// aesSbox is SubBytes on one byte: the inverse modulo g, then aesAffine.
func aesSbox(y byte) byte { return aesAffine(gfInv(y, polyAES)) }

// shiftRows is the AES ShiftRows byte map of a 16-byte state: state byte
// r+4c (row r, column c) of the result is byte r+4((c+r) mod 4) of the
// input (FIPS-197 5.1.2).
func shiftRows() (src [16]byte) {
	for r := range 4 {
		for c := range 4 {
			src[r+4*c] = byte(r + 4*((c+r)%4))
		}
	}
	return src
}

// aesEncLastZeroKey is AESENCLAST with an all-zero round key on one lane.
func aesEncLastZeroKey(s [16]byte) (out [16]byte) {
	for i, j := range shiftRows() {
		out[i] = aesSbox(s[j])
	}
	return out
}

// pshufb is VPSHUFB on one 128-bit lane: byte i of the result is byte
// ctl[i]&15 of x, or zero if bit 7 of ctl[i] is set.
func pshufb(x, ctl [16]byte) (out [16]byte) {
	for i, c := range ctl {
		if c&0x80 == 0 {
			out[i] = x[c&15]
		}
	}
	return out
}

// nibbles is a byte map as the kernel evaluates it: a table for the low
// nibble (holding the constant) and one for the high nibble.
type nibbles struct{ lo, hi [16]byte }

func tablesOf(m matrix, c byte) nibbles {
	var t nibbles
	for i := range 16 {
		t.lo[i] = m.apply(byte(i)) ^ c
		t.hi[i] = m.apply(byte(i << 4))
	}
	return t
}

func (t nibbles) lookup(x byte) byte { return t.lo[x&15] ^ t.hi[x>>4] }

// lane applies the map to each byte of a lane, as two VPSHUFB and a VPXOR.
func (t nibbles) lane(x [16]byte) (out [16]byte) {
	lo, hi := pshufb(t.lo, nibbleIdx(x, 0)), pshufb(t.hi, nibbleIdx(x, 4))
	for i := range out {
		out[i] = lo[i] ^ hi[i]
	}
	return out
}

// nibbleIdx is (x >> s) & 0x0f per byte: the kernel's VPSRLW and VPAND.
func nibbleIdx(x [16]byte, s uint) (idx [16]byte) {
	for i := range x {
		idx[i] = x[i] >> s & 0x0f
	}
	return idx
}

// aesniSbox holds the AES-NI kernel's tables and byte-shuffle controls.
type aesniSbox struct {
	in, key, out nibbles // X → Y (affine), rk → P·rk (linear), Y → X
	pmap, qmap   nibbles // AESENCLAST output (key aesKey) → the terms of P·L(s)
	post         nibbles // AESENCLAST output (zero key) → s; checked, not emitted

	aesKey                byte     // every byte of AESENCLAST's round key
	invShiftRows          [16]byte // undoes ShiftRows before AESENCLAST
	rotl8, rotl16, rotl24 [16]byte // rotate each dword
	bswap                 [16]byte // reverse each dword
}

// byteMap returns the matrix of a linear map on bytes.
func byteMap(f func(byte) byte) matrix {
	var cols [8]byte
	for j := range 8 {
		cols[j] = f(1 << j)
	}
	return fromColumns(cols)
}

func (m matrix) add(n matrix) matrix {
	for i := range m {
		m[i] ^= n[i]
	}
	return m
}

// deriveAESNISbox derives the tables from the GFNI decomposition s and checks
// each step: the AES S-box against FIPS-197, the S-box pipeline against the
// SM4 S-box for all 256 inputs, every byte-shuffle control, and whole
// blocks, encrypted through a model of the kernel's round (lanes, nibble
// lookups, the ShiftRows fix-up, AESENCLAST as the instruction computes
// it), against SM4 from its definition. It panics on any mismatch.
func deriveAESNISbox(s sboxAffine) aesniSbox {
	// The AES S-box from its definition, against FIPS-197 figure 7.
	seen := [256]bool{}
	for x := range 256 {
		seen[aesSbox(byte(x))] = true
	}
	for x, ok := range seen {
		if !ok {
			panic(fmt.Sprintf("AES S-box misses %#02x", x))
		}
	}
	for x, want := range map[byte]byte{0x00: 0x63, 0x01: 0x7c, 0x10: 0xca, 0x53: 0xed, 0x9a: 0xb8, 0xff: 0x16} {
		if got := aesSbox(x); got != want {
			panic(fmt.Sprintf("AES S-box(%#02x) = %#02x, want %#02x (FIPS-197)", x, got, want))
		}
	}

	// A_aes as a matrix: column j is the image of bit j. Its rows are 0xF1
	// rotated (its columns 0x1F rotated).
	aesA := byteMap(func(b byte) byte { return aesAffine(b) ^ aesC })
	if aesA != circulant(0xf1) {
		panic("A_aes is not the circulant of 0xF1")
	}
	for b := range 256 {
		if aesA.apply(byte(b))^aesC != aesAffine(byte(b)) {
			panic("aesAffine is not A_aes·b ⊕ 0x63")
		}
	}

	var t aesniSbox
	p, pc := s.pre, s.preConst
	m := s.post.mul(aesA.inverse())
	k := m.apply(aesC) ^ s.postConst
	t.in = tablesOf(p, pc)
	t.key = tablesOf(p, 0)
	t.post = tablesOf(m, k)
	pinv := p.inverse()
	t.out = tablesOf(pinv, pinv.apply(pc))

	// The S-box pipeline against the SM4 S-box, for every input.
	a := circulant(sboxA)
	sm4 := func(x byte) byte { return a.apply(gfInv(a.apply(x)^sboxC, polySM4)) ^ sboxC }
	for x := range 256 {
		want := sm4(byte(x))
		if got := t.post.lookup(aesSbox(t.in.lookup(byte(x)))); got != want {
			panic(fmt.Sprintf("derived AES-NI S-box wrong at %#02x: %#02x, want %#02x", x, got, want))
		}
		if t.out.lookup(t.in.lookup(byte(x))) != byte(x) {
			panic(fmt.Sprintf("out is not the inverse of in at %#02x", x))
		}
	}
	// And against the standard's first row, independently of field.go.
	for x, want := range []byte{0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05} {
		if got := sm4(byte(x)); got != want {
			panic(fmt.Sprintf("SM4 S-box(%#02x) = %#02x, want %#02x (GB/T 32907)", x, got, want))
		}
	}

	// The three terms of P·L(s), s = M·u ⊕ k.
	id := byteMap(func(b byte) byte { return b })
	b2 := byteMap(func(b byte) byte { return b << 2 })
	b6 := byteMap(func(b byte) byte { return b >> 6 })
	// AESENCLAST XORs its round key in after SubBytes. The kernel passes
	// the 0x0f nibble mask it holds anyway (every byte 0x0f, so ShiftRows
	// does not matter), and the tables take it back out: they are indexed
	// by u ^ 0x0f.
	t.aesKey = 0x0f
	term := func(n matrix) nibbles {
		nm := p.mul(n)
		return tablesOf(nm.mul(m), nm.apply(m.apply(t.aesKey)^k))
	}
	t.pmap = term(id.add(b2))
	t.qmap = term(b2.add(b6))
	if id.add(b2).add(b2.add(b6)) != id.add(b6) {
		panic("(I⊕B2) ⊕ (B2⊕B6) is not I⊕B6")
	}

	// The byte-shuffle controls. ShiftRows brings byte sr[i] to i, so the
	// VPSHUFB that undoes it beforehand must bring byte i to sr[i].
	for i, j := range shiftRows() {
		t.invShiftRows[j] = byte(i)
	}
	for j := range 4 {
		for b := range 4 {
			// A left rotation by 8r bits takes byte b of a dword from
			// byte b-r.
			t.rotl8[4*j+b] = byte(4*j + (b+3)%4)
			t.rotl16[4*j+b] = byte(4*j + (b+2)%4)
			t.rotl24[4*j+b] = byte(4*j + (b+1)%4)
			t.bswap[4*j+b] = byte(4*j + 3 - b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		l := randLane(rng)
		for _, c := range []struct {
			ctl  [16]byte
			want func(uint32) uint32
		}{
			{t.rotl8, func(w uint32) uint32 { return bits.RotateLeft32(w, 8) }},
			{t.rotl16, func(w uint32) uint32 { return bits.RotateLeft32(w, 16) }},
			{t.rotl24, func(w uint32) uint32 { return bits.RotateLeft32(w, 24) }},
			{t.bswap, bits.ReverseBytes32},
		} {
			got := pshufb(l, c.ctl)
			for j := range 4 {
				if dword(got, j) != c.want(dword(l, j)) {
					panic(fmt.Sprintf("byte-shuffle control %x is not its rotation", c.ctl))
				}
			}
		}
		u := aesEncLastZeroKey(pshufb(l, t.invShiftRows))
		for i := range u {
			if u[i] != aesSbox(l[i]) {
				panic("invShiftRows does not undo ShiftRows")
			}
		}
	}

	// Whole blocks: four word-sliced blocks in one lane through 32 rounds
	// of the kernel's model, against SM4 from its definition.
	sm4L := func(b uint32) uint32 {
		return b ^ bits.RotateLeft32(b, 2) ^ bits.RotateLeft32(b, 10) ^ bits.RotateLeft32(b, 18) ^ bits.RotateLeft32(b, 24)
	}
	tau := func(w uint32) uint32 {
		return uint32(sm4(byte(w>>24)))<<24 | uint32(sm4(byte(w>>16)))<<16 | uint32(sm4(byte(w>>8)))<<8 | uint32(sm4(byte(w)))
	}
	for range 200 {
		var rk [32]uint32
		for i := range rk {
			rk[i] = rng.Uint32()
		}
		var x [4][16]byte // word i of blocks 0..3, block j in dword j
		for i := range x {
			x[i] = randLane(rng)
		}
		var y [4][16]byte
		for i := range y {
			y[i] = t.in.lane(x[i])
		}
		for r := range 32 {
			y[r%4] = t.round(y[(r+1)%4], y[(r+2)%4], y[(r+3)%4], y[r%4], rk[r])
		}
		for j := range 4 {
			w := [4]uint32{dword(x[0], j), dword(x[1], j), dword(x[2], j), dword(x[3], j)}
			for r := range 32 {
				w[r%4] ^= sm4L(tau(w[(r+1)%4] ^ w[(r+2)%4] ^ w[(r+3)%4] ^ rk[r]))
			}
			for i := range 4 {
				if got := dword(t.out.lane(y[i]), j); got != w[i] {
					panic(fmt.Sprintf("AES-NI round model: block %d word %d is %#08x, want %#08x", j, i, got, w[i]))
				}
			}
		}
	}
	return t
}

// round is one lane of the kernel's round (aesniKernel.round), step by
// step: the new Y0.
func (t *aesniSbox) round(y1, y2, y3, y0 [16]byte, rk uint32) [16]byte {
	var key [16]byte
	for j := range 4 {
		putDword(&key, j, rk)
	}
	key = t.key.lane(key)
	var in [16]byte
	for i := range in {
		in[i] = key[i] ^ y1[i] ^ y2[i] ^ y3[i]
	}
	u := aesEncLastZeroKey(pshufb(in, t.invShiftRows))
	for i := range u {
		u[i] ^= t.aesKey
	}
	q, pl := t.qmap.lane(u), t.pmap.lane(u)
	var v [16]byte
	for i := range v {
		v[i] = pl[i] ^ q[i]
	}
	q8, q16, v24 := pshufb(q, t.rotl8), pshufb(q, t.rotl16), pshufb(v, t.rotl24)
	for i := range y0 {
		y0[i] ^= pl[i] ^ q8[i] ^ q16[i] ^ v24[i]
	}
	return y0
}

func randLane(r *rand.Rand) (l [16]byte) {
	for i := range l {
		l[i] = byte(r.Uint32())
	}
	return l
}

// dword is dword j of a lane, little endian as in a register.
func dword(l [16]byte, j int) uint32 {
	return uint32(l[4*j]) | uint32(l[4*j+1])<<8 | uint32(l[4*j+2])<<16 | uint32(l[4*j+3])<<24
}

func putDword(l *[16]byte, j int, w uint32) {
	for b := range 4 {
		l[4*j+b] = byte(w >> (8 * b))
	}
}
