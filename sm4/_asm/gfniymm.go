package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gfniYMMGroups is how many groups of 8 blocks the GFNI ymm kernel's main
// loop keeps in flight. A round's chain for one group (a XOR, the two
// GFNI instructions, six steps of L) is some 12-16 cycles against about 4
// cycles of issue. Measured on the 2-core Zen 5 class VM this was written on
// (16 KiB calls, medians of 6), against 2 groups: 3 run 1.40x, 4 1.77x,
// 5 1.97x, 6 2.10x, 7 and 8 2.10x as fast; 8 also makes a batch 1 KiB, so
// power-of-two calls leave no slow partial batch (1 KiB calls: 8 groups
// 1.16x as fast as 4, 6 groups 0.94x). Eight use all 16 ymm registers in
// the rounds (see gfniYMM), and the function is about 50 KB of code.
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
//	2: the S-box, VGF2P8AFFINEQB then VGF2P8AFFINEINVQB (field.go)
//	7: u = t ^ rotl8(t) ^ rotl16(t) and rotl2(u) (2 VPSHUFB, 2 VPXOR,
//	   VPSLLD, VPSRLD, VPOR)
//	4: X0 ^ t ^ rotl24(t) ^ rotl2(u) (1 VPSHUFB, 3 VPXOR)
//
// 16 vector instructions for 8 blocks, 3 of them byte shuffles, from
// L(t) = t ^ rotl24(t) ^ rotl2(t ^ rotl8(t) ^ rotl16(t)). The chain from
// the newest word to the next is one VPXOR, the two GFNI instructions and
// six steps of L.
//
// As in the AES-NI kernel only a group's newest word lives in a register,
// the other three on the stack as memory operands. The round needs three
// temporaries and five constants (the S-box's two matrices, each qword
// broadcast, and the three rotations), which leaves eight registers for
// the groups' newest words.
//
// Unlike the AES-NI kernel's, the first batch is graded (ymmCall): j
// groups for calls that touch at most 8j blocks, so a call of a few
// hundred bytes does not pay for a whole batch of 64 blocks.
func gfniYMM(s sboxAffine) {
	Implement("ctrGFNIYMM")
	g := gfniYMMGroups
	k := &gfniYMMKernel{s: s, c: aesniConstants(s), gc: consts()}
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
	c      *aesniConsts // the rotations, bswap and the counter offsets
	gc     *constants   // the S-box matrices
	rk, lo Register     // lo: the low 64 bits of the next group's first counter
	hi     Mem          // the counter's high 64 bits: word 0 at +4, word 1 at +0
	words  Mem          // each group's words, 4 x 32 bytes a group
	buf    Mem          // 16 bytes of pad, then up to gfniYMMGroups*8 blocks of keystream

	// The constants of a batch's rounds, in registers.
	pre, post, rotl8, rotl16, rotl24 VecVirtual
}

var gfniYMMLoops int

// counters builds group i's counter blocks, word-sliced (see lanes.go for
// the lane order): words 0-2 into its slots, word 3 its newest. It
// advances lo past them.
func (k *gfniYMMKernel) counters(w width, i int) group {
	gr := group{w: w, slots: k.words.Offset(128 * i)}
	for j, off := range []int{4, 0} {
		x := w.vec()
		VPBROADCASTD(k.hi.Offset(off), x)
		VMOVDQU(x, gr.slot(j))
	}
	x := XMM()
	VMOVQ(k.lo, x)
	qa, qb := w.vec(), w.vec()
	VPBROADCASTQ(x, qb)
	VPADDQ(k.c.offA[w], qb, qa)
	VPADDQ(k.c.offB[w], qb, qb)
	w2, w3 := w.vec(), w.vec()
	VSHUFPS(U8(shufHighDwords), qb, qa, w2)
	VSHUFPS(U8(shufLowDwords), qb, qa, w3)
	ADDQ(U8(w.blocks()), k.lo)
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
	k.pre, k.post = w.vec(), w.vec()
	VPBROADCASTQ(k.gc.pre, k.pre)
	VPBROADCASTQ(k.gc.post, k.post)
	k.rotl8, k.rotl16, k.rotl24 = w.vec(), w.vec(), w.vec()
	VMOVDQU(k.c.rotl8, k.rotl8)
	VMOVDQU(k.c.rotl16, k.rotl16)
	VMOVDQU(k.c.rotl24, k.rotl24)

	// Eight times four rounds: four bring every word back to its slot, and
	// the loop keeps the code small.
	gfniYMMLoops++
	loop := fmt.Sprintf("rounds%d", gfniYMMLoops)
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
	// A constant in a register, or its low half for an xmm group.
	c := func(v VecVirtual) Op {
		if w == xmmWidth {
			return v.AsX()
		}
		return v
	}
	t := w.vec()
	VPBROADCASTD(rk, t)
	VPXOR(gr.slot(r+1), t, t)
	VPXOR(gr.slot(r+2), t, t)
	VPXOR(gr.newest, t, t)
	VMOVDQU(gr.newest, gr.slot(r+3))

	VGF2P8AFFINEQB(U8(k.s.preConst), c(k.pre), t, t)
	VGF2P8AFFINEINVQB(U8(k.s.postConst), c(k.post), t, t)

	// X[r+4] = X[r] ^ t ^ rotl24(t) ^ rotl2(t ^ rotl8(t) ^ rotl16(t)), in
	// the newest's register (its value is in its slot). rotl2(u) is the
	// longest path (6 steps from t) and goes in last.
	u, v := w.vec(), w.vec()
	VPSHUFB(c(k.rotl8), t, u)
	VPSHUFB(c(k.rotl16), t, v)
	VPXOR(v, u, u)
	VPXOR(t, u, u) // u
	d := gr.newest
	VPXOR(gr.slot(r), t, d)
	VPSHUFB(c(k.rotl24), t, t)
	VPXOR(t, d, d)
	VPSLLD(U8(2), u, v)
	VPSRLD(U8(30), u, u)
	VPOR(u, v, v) // rotl2(u)
	VPXOR(v, d, d)
}

// output turns group i's words (X32..X35) into blocks: the output block is
// X35 || X34 || X33 || X32, big endian. A 4x4 dword transpose in each
// 128-bit lane gives registers o0..o3 of whole blocks, in memory order by
// the counters' lane order (lanes.go).
func (k *gfniYMMKernel) output(gr group, i int, buffered bool) {
	w := [4]VecVirtual{gr.w.vec(), gr.w.vec(), gr.w.vec(), gr.newest}
	for j := range 3 {
		VMOVDQU(gr.slot(32+j), w[j])
	}
	a, b, c, d := w[3], w[2], w[1], w[0]
	t0, t1, t2, t3 := gr.w.vec(), gr.w.vec(), gr.w.vec(), gr.w.vec()
	VPUNPCKLDQ(b, a, t0)
	VPUNPCKHDQ(b, a, t1)
	VPUNPCKLDQ(d, c, t2)
	VPUNPCKHDQ(d, c, t3)
	emit := func(j int, x VecVirtual) {
		VPSHUFB(k.c.bswap, x, x)
		off := 16*gr.w.blocks()*i + int(gr.w.size())*j
		if buffered {
			VMOVDQU(x, k.buf.Offset(16+off))
			return
		}
		VPXOR(Mem{Base: k.src}.Offset(off), x, x)
		VMOVDQU(x, Mem{Base: k.dst}.Offset(off))
	}
	o := [4]VecVirtual{gr.w.vec(), gr.w.vec(), gr.w.vec(), gr.w.vec()}
	VPUNPCKLQDQ(t2, t0, o[0])
	emit(0, o[0])
	VPUNPCKHQDQ(t2, t0, o[1])
	emit(1, o[1])
	VPUNPCKLQDQ(t3, t1, o[2])
	emit(2, o[2])
	VPUNPCKHQDQ(t3, t1, o[3])
	emit(3, o[3])
}
