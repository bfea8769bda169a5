package main

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gfniYMMGroups is how many groups of 8 blocks the GFNI ymm kernel's main
// loop keeps in flight. A round's chain for one group (a XOR, two GFNI
// instructions, three steps of L) is some 10 cycles against about 4
// cycles of issue. Measured on the 2-core Zen 5 class VM this was written on
// (16 KiB calls, medians of 6), against 2 groups: 3 run 1.40x, 4 1.77x,
// 5 1.97x, 6 2.10x, 7 and 8 2.10x as fast; 8 also makes a batch 1 KiB, so
// power-of-two calls leave no slow partial batch (1 KiB calls: 8 groups
// 1.16x as fast as 4, 6 groups 0.94x). Eight use all 16 ymm registers in
// the rounds (see gfniYMM), and the function is about 50 KB of code. These
// counts were measured with the older round of six steps of L (see
// gfniYMM) and not measured again with the shorter one.
const gfniYMMGroups = 8

// gfniYMM implements ctrGFNIYMM(rk, dst, src, n, skip, hi, lo), with the
// contract of ctrGFNIZMM (see gfniZMM) on GFNI and AVX2 only: VEX
// encodings, 16 ymm registers, no mask registers, no VPROLD or VPTERNLOGD.
//
// It is the AES-NI kernel (aesniAVX2) with the S-box of gfniZMM: the same
// word-sliced groups of 8 blocks (4 in an xmm for calls of at most 4
// blocks), the same call structure (ymmCall) and counter lanes (lanes.go),
// but the words stay in SM4's own coordinates, so the round keys and the
// counters go in as they are. A round, for one ymm group, is
//
//	3 VPXOR (and a VPBROADCASTD load, a store): X1 ^ X2 ^ X3 ^ rk
//	1 VGF2P8AFFINEQB: the S-box's pre-map, y
//	3 VGF2P8AFFINEINVQB of y: p, q and r, the S-box's post-map and the
//	  bytewise parts of L folded together (gfniYMMRound)
//	7: X0 ^ p ^ rotl8(q) ^ rotl16(q) ^ rotl24(r) (3 VPSHUFB, 4 VPXOR)
//
// 14 vector instructions for 8 blocks, 3 of them byte shuffles. The chain
// from the newest word to the next is one VPXOR, two GFNI instructions
// (the three inversions side by side) and three steps of L; it was six
// steps with L computed from the S-box output by shifts (rotl2), which
// made a lone xmm group (calls of up to 64 bytes) 1.37x as slow and 16
// KiB calls 1.25x as slow (medians of 8, the VM below).
//
// As in the AES-NI kernel only a group's newest word lives in a register,
// the other three on the stack as memory operands. The round needs three
// temporaries; of its seven constants (the four matrices and the three
// rotations) those that fit in the other registers are held, the rest are
// memory operands (two with eight groups).
//
// Unlike the AES-NI kernel's, the first batch is graded (ymmCall): j
// groups for calls that touch at most 8j blocks, so a call of a few
// hundred bytes does not pay for a whole batch of 64 blocks.
func gfniYMM(s sboxAffine) {
	Implement("ctrGFNIYMM")
	g := gfniYMMGroups
	k := &gfniYMMKernel{s: s, r: deriveGFNIYMMRound(s), c: aesniConstants(s), gc: consts()}
	k.constants()
	k.rk = Load(Param("rk"), GP64())
	k.dst = Load(Param("dst"), GP64())
	k.src = Load(Param("src"), GP64())
	k.n = Load(Param("n"), GP64())
	skip := Load(Param("skip"), GP64())
	hi := Load(Param("hi"), GP64())
	k.lo = Load(Param("lo"), GP64())
	k.hi = AllocLocal(8)
	k.words = AllocLocal(g * 4 * 32)
	k.buf = AllocLocal(16 + 128*g)
	MOVQ(hi, k.hi)

	ymmCall(k, k.call, g, true, skip, k.buf)
}

type gfniYMMKernel struct {
	call
	s      sboxAffine
	r      gfniYMMRound
	c      *aesniConsts // the rotations, bswap and the counter offsets
	gc     *constants   // the S-box's pre-map
	rk, lo Register     // lo: the low 64 bits of the next group's first counter
	hi     Mem          // the counter's high 64 bits: word 0 at +4, word 1 at +0
	words  Mem          // each group's words, 4 x 32 bytes a group
	buf    Mem          // 16 bytes of pad, then up to gfniYMMGroups*8 blocks of keystream

	// The constants of a batch's rounds, in registers as far as they fit.
	pre, mp, mq, mr, rotl8, rotl16, rotl24 ymmConst
}

// ymmConst is a constant of the rounds: its memory (32 bytes, or a qword
// to broadcast), and its register while a batch holds it.
type ymmConst struct {
	mem   Mem
	bcast bool // mem is a qword, only loaded by broadcast
	reg   VecVirtual
}

// op returns the constant for work at width w: its register (or that
// register's low half), or its memory.
func (k *gfniYMMKernel) op(c *ymmConst, w width) Op {
	switch {
	case c.reg == nil:
		return c.mem
	case w == xmmWidth:
		return c.reg.AsX()
	}
	return c.reg
}

// constants sets up the rounds' constants: the pre-map from gfniZMM, the
// rotations from aesniAVX2, and the three post-maps (32 bytes each, so
// that they can be memory operands) added here.
func (k *gfniYMMKernel) constants() {
	matrix := func(name string, m matrix) ymmConst {
		g := GLOBL(name, NOPTR|RODATA)
		for i := range 4 {
			DATA(8*i, U64(m.gfni()))
		}
		return ymmConst{mem: g}
	}
	k.pre = ymmConst{mem: k.gc.pre, bcast: true}
	k.mp = matrix("gfniYMMPostP", k.r.p)
	k.mq = matrix("gfniYMMPostQ", k.r.q)
	k.mr = matrix("gfniYMMPostR", k.r.r)
	k.rotl8 = ymmConst{mem: k.c.rotl8}
	k.rotl16 = ymmConst{mem: k.c.rotl16}
	k.rotl24 = ymmConst{mem: k.c.rotl24}
}

// counters builds group i's counter blocks, word-sliced (see lanes.go for
// the lane order): words 0-2 into its slots, word 3 its newest. It
// advances lo past them.
func (k *gfniYMMKernel) counters(w width, i int) group {
	gr, w2, w3 := counterWords(w, i, k.words, k.hi, k.lo, k.c)
	VMOVDQU(w2, gr.slot(2))
	gr.newest = w3
	return gr
}

// groups encrypts g groups of counters and XORs them into src → dst,
// advancing src, dst and n, or (buffered) stores the keystream in the
// buffer after its pad.
func (k *gfniYMMKernel) groups(w width, g int, buffered bool) {
	grs := make([]group, g)
	for i := range grs {
		grs[i] = k.counters(w, i)
	}
	// The round needs three temporaries next to the groups' newest words;
	// the constants take the other registers in this order (the pre-map,
	// a broadcast qword, must), the rest are memory operands.
	free := 16 - g - 3
	for _, c := range []*ymmConst{&k.pre, &k.mq, &k.mp, &k.mr, &k.rotl8, &k.rotl16, &k.rotl24} {
		c.reg = nil
		if free == 0 {
			if c.bcast {
				panic("no register for a broadcast constant")
			}
			continue
		}
		free--
		c.reg = w.vec()
		if c.bcast {
			VPBROADCASTQ(c.mem, c.reg)
		} else {
			VMOVDQU(c.mem, c.reg)
		}
	}

	// Eight times four rounds: four bring every word back to its slot, and
	// the loop keeps the code small.
	loop := label("rounds")
	rkp, cnt := GP64(), GP64()
	MOVQ(k.rk, rkp)
	MOVQ(U32(8), cnt)
	Label(loop)
	for r := range 4 {
		for i := range grs {
			k.round(&grs[i], r, Mem{Base: rkp}.Offset(4*r))
		}
	}
	ADDQ(U8(16), rkp)
	DECQ(cnt)
	JNZ(LabelRef(loop))

	for i, gr := range grs {
		k.output(gr, i, buffered)
	}
	if buffered {
		return
	}
	step := 16 * w.blocks() * g
	ADDQ(U32(step), k.src)
	ADDQ(U32(step), k.dst)
	SUBQ(U32(step), k.n)
}

// round is X[r+4] = X[r] ^ L(τ(X[r+1] ^ X[r+2] ^ X[r+3] ^ rk[r])), r mod 4
// given: X[r+1] and X[r+2] come from their slots, X[r+3] is the newest and
// goes to its slot, X[r] comes from its slot and X[r+4] becomes the newest.
func (k *gfniYMMKernel) round(gr *group, r int, rk Mem) {
	w := gr.w
	t := w.vec()
	VPBROADCASTD(rk, t)
	VPXOR(gr.slot(r+1), t, t)
	VPXOR(gr.slot(r+2), t, t)
	VPXOR(gr.newest, t, t)
	VMOVDQU(gr.newest, gr.slot(r+3))

	// The S-box's pre-map, then three inversions of the same y, each
	// with its own post-map (gfniYMMRound): p, q and r, the bytewise
	// terms of L(s).
	VGF2P8AFFINEQB(U8(k.s.preConst), k.op(&k.pre, w), t, t)
	u, v := w.vec(), w.vec()
	d := gr.newest // its value is in its slot
	VGF2P8AFFINEINVQB(U8(k.r.qConst), k.op(&k.mq, w), t, u)
	VGF2P8AFFINEINVQB(U8(k.r.pConst), k.op(&k.mp, w), t, d)
	VGF2P8AFFINEINVQB(U8(k.r.rConst), k.op(&k.mr, w), t, t)

	// X[r+4] = X[r] ^ p ^ rotl8(q) ^ rotl16(q) ^ rotl24(r): three steps
	// from the inversions. (q's constant, the same in every byte, cancels
	// in rotl8(q) ^ rotl16(q): it has no effect on the result.)
	VPSHUFB(k.op(&k.rotl8, w), u, v)
	VPSHUFB(k.op(&k.rotl16, w), u, u)
	VPSHUFB(k.op(&k.rotl24, w), t, t)
	VPXOR(gr.slot(r), d, d)
	VPXOR(v, u, u)
	VPXOR(t, d, d)
	VPXOR(u, d, d)
}

// output emits group i's words (X32..X35) as blocks (emitBlocks).
func (k *gfniYMMKernel) output(gr group, i int, buffered bool) {
	w := [4]VecVirtual{gr.w.vec(), gr.w.vec(), gr.w.vec(), gr.newest}
	for j := range 3 {
		VMOVDQU(gr.slot(32+j), w[j])
	}
	k.emitBlocks(w, gr, i, buffered, k.c.bswap, k.buf)
}

// gfniYMMRound holds the post-maps of the GFNI ymm kernel's round. With
// B2 the bytewise map x<<2 and B6 the bytewise x>>6, rotl2 of a dword is
// B2 ^ rotl8·B6 (the top two bits of each byte go into the next byte up),
// so, as in aesnisbox.go,
//
//	L(s) = (I⊕B2)·s ^ rotl8((B2⊕B6)·s) ^ rotl16((B2⊕B6)·s) ^ rotl24((I⊕B6)·s)
//
// and with s = post·inv_g(y) ⊕ C each bytewise term is one
// GF2P8AFFINEINVQB of y: p = (I⊕B2)·s, q = (B2⊕B6)·s, r = (I⊕B6)·s, each
// its matrix times post and its constant the map of C. The three
// inversions run side by side; L is then three byte rotations and XORs.
type gfniYMMRound struct {
	p, q, r                matrix
	pConst, qConst, rConst byte
}

// deriveGFNIYMMRound derives the post-maps and checks them: each against
// its map of the S-box for all 256 inputs, and L(S-box) assembled from
// them as the round does against L from its definition, for words built
// from every byte value in every position and for random words. It
// panics on any mismatch.
func deriveGFNIYMMRound(s sboxAffine) gfniYMMRound {
	id := byteMap(func(b byte) byte { return b })
	b2 := byteMap(func(b byte) byte { return b << 2 })
	b6 := byteMap(func(b byte) byte { return b >> 6 })
	maps := [3]matrix{id.add(b2), b2.add(b6), id.add(b6)}
	var r gfniYMMRound
	mats := [3]*matrix{&r.p, &r.q, &r.r}
	cs := [3]*byte{&r.pConst, &r.qConst, &r.rConst}
	for i, m := range maps {
		*mats[i] = m.mul(s.post)
		*cs[i] = m.apply(s.postConst)
	}

	sbox := func(x byte) byte {
		a := circulant(sboxA)
		return a.apply(gfInv(a.apply(x)^sboxC, polySM4)) ^ sboxC
	}
	// inv is GF2P8AFFINEINVQB of the pre-map's output.
	inv := func(x byte, m matrix, c byte) byte {
		return m.apply(gfInv(s.pre.apply(x)^s.preConst, polyAES)) ^ c
	}
	for x := range 256 {
		sx := sbox(byte(x))
		for i, m := range maps {
			if got, want := inv(byte(x), *mats[i], *cs[i]), m.apply(sx); got != want {
				panic(fmt.Sprintf("gfni-ymm post-map %d wrong at %#02x: %#02x, want %#02x", i, x, got, want))
			}
		}
	}
	word := func(x uint32, m matrix, c byte) uint32 {
		var y uint32
		for j := range 4 {
			y |= uint32(inv(byte(x>>(8*j)), m, c)) << (8 * j)
		}
		return y
	}
	check := func(x uint32) {
		var sx uint32
		for j := range 4 {
			sx |= uint32(sbox(byte(x>>(8*j)))) << (8 * j)
		}
		want := sx ^ bits.RotateLeft32(sx, 2) ^ bits.RotateLeft32(sx, 10) ^ bits.RotateLeft32(sx, 18) ^ bits.RotateLeft32(sx, 24)
		p, q, rr := word(x, r.p, r.pConst), word(x, r.q, r.qConst), word(x, r.r, r.rConst)
		got := p ^ bits.RotateLeft32(q, 8) ^ bits.RotateLeft32(q, 16) ^ bits.RotateLeft32(rr, 24)
		if got != want {
			panic(fmt.Sprintf("gfni-ymm round wrong at %#08x: %#08x, want %#08x", x, got, want))
		}
	}
	for x := range 256 {
		for j := range 4 {
			check(uint32(x) << (8 * j))
			check(uint32(x)*0x01010101 ^ 0xa5c3e10f<<(8*j))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 16 {
		check(rng.Uint32())
	}
	return r
}
