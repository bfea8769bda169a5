package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gfniZMM implements ctrGFNIZMM(rk, dst, src, n, skip, hi, lo):
// dst[i] = src[i] ^ keystream byte skip+i for i < n, the keystream starting
// at counter block hi||lo (big endian), skip < 16, n >= 16. The caller
// guarantees the low 64 bits of the counter do not wrap across the blocks
// the call touches.
//
// Blocks are word-sliced: a group is 16 blocks in four zmm registers, word
// j of every block in register j, so one instruction does one step of a
// round for 16 blocks. Four groups (64 blocks) are in flight in the main
// loop: a round's chain (XOR, two GFNI, rotate, XOR) is about a dozen
// cycles long, and four independent chains keep the vector units busy.
//
// The first and the last batch of a call go through a stack buffer: data
// byte d meets buffer byte 16+skip+d, so an unaligned start needs nothing
// special, and the last partial block is merged through the 16-byte window
// that ends at the end of the data. Between them data and keystream are
// block-aligned and batches XOR straight from registers. No access leaves
// the caller's buffers or the stack frame, and none is masked.
func gfniZMM(s sboxAffine) {
	Implement("ctrGFNIZMM")
	k := &kernel{s: s}
	k.rk = Load(Param("rk"), GP64())
	k.dst = Load(Param("dst"), GP64())
	k.src = Load(Param("src"), GP64())
	k.n = Load(Param("n"), GP64())
	skip := Load(Param("skip"), GP64())
	hi := Load(Param("hi"), GP64())
	lo := Load(Param("lo"), GP64())
	k.setup(hi, lo)
	k.buf = AllocLocal(16 + 1024)

	// The first batch: one group if the call touches at most 16 blocks
	// (skip+n <= 256), else four.
	bp := GP64()
	LEAQ(k.buf.Offset(16), bp)
	ADDQ(skip, bp)
	t := GP64()
	MOVQ(skip, t)
	ADDQ(k.n, t)
	CMPQ(t, U32(256))
	JA(LabelRef("first4"))
	k.groups(1, true)
	k.consume(evex, bp, 256, skip)
	JMP(LabelRef("aligned"))
	Label("first4")
	k.groups(4, true)
	k.consume(evex, bp, 1024, skip)

	Label("aligned")
	Label("wide")
	CMPQ(k.n, U32(1024))
	JB(LabelRef("one"))
	k.groups(4, false)
	JMP(LabelRef("wide"))

	Label("one")
	CMPQ(k.n, U32(256))
	JB(LabelRef("last"))
	k.groups(1, false)
	JMP(LabelRef("one"))

	Label("last")
	TESTQ(k.n, k.n)
	JZ(LabelRef("done"))
	k.groups(1, true)
	LEAQ(k.buf.Offset(16), bp)
	XORQ(skip, skip)
	k.consume(evex, bp, 256, skip)

	Label("done")
	VZEROUPPER()
	RET()
}

type kernel struct {
	call
	s               sboxAffine
	rk              Register
	pre, post       VecVirtual // the S-box's affine matrices
	bswap           VecVirtual // reverses the bytes of each dword
	hiW0, hiW1      VecVirtual // the counter's high words, broadcast
	qa, qb          VecVirtual // low 64 bits of the next group's counters
	idxEven, idxOdd VecVirtual // VPERMT2D: low and high dwords of qa||qb
	inc             VecVirtual // 16 in every quadword
	buf             Mem        // 16 bytes of pad, then up to 64 blocks of keystream
}

// setup loads the constants and the first group's counters.
func (k *kernel) setup(hi, lo Register) {
	c := consts()
	k.pre, k.post = ZMM(), ZMM()
	VPBROADCASTQ(c.pre, k.pre)
	VPBROADCASTQ(c.post, k.post)
	k.bswap = ZMM()
	VBROADCASTI32X4(c.bswap, k.bswap)
	k.idxEven, k.idxOdd, k.inc = ZMM(), ZMM(), ZMM()
	VMOVDQU64(c.idxEven, k.idxEven)
	VMOVDQU64(c.idxOdd, k.idxOdd)
	VPBROADCASTQ(c.sixteen, k.inc)

	k.hiW0, k.hiW1 = ZMM(), ZMM()
	w := GP64()
	MOVQ(hi, w)
	SHRQ(Imm(32), w)
	VPBROADCASTD(w.As32(), k.hiW0)
	VPBROADCASTD(hi.(GPVirtual).As32(), k.hiW1)
	k.qa, k.qb = ZMM(), ZMM()
	VPBROADCASTQ(lo, k.qa)
	VPADDQ(c.offB, k.qa, k.qb)
	VPADDQ(c.offA, k.qa, k.qa)
}

// counters returns the next group's counter blocks, word-sliced. Lane k
// holds counter offset (k%4)*4 + k/4, so that the transpose at the end
// leaves blocks in memory order.
func (k *kernel) counters() [4]VecVirtual {
	var w [4]VecVirtual
	for j := range w {
		w[j] = ZMM()
	}
	VMOVDQA64(k.hiW0, w[0])
	VMOVDQA64(k.hiW1, w[1])
	VMOVDQA64(k.qa, w[2])
	VPERMT2D(k.qb, k.idxOdd, w[2])
	VMOVDQA64(k.qa, w[3])
	VPERMT2D(k.qb, k.idxEven, w[3])
	VPADDQ(k.inc, k.qa, k.qa)
	VPADDQ(k.inc, k.qb, k.qb)
	return w
}

// groups encrypts g groups of counters and XORs them into src → dst,
// advancing src, dst and n, or (buffered) stores the keystream in the
// buffer after its pad.
func (k *kernel) groups(g int, buffered bool) {
	ws := make([][4]VecVirtual, g)
	for i := range ws {
		ws[i] = k.counters()
	}
	for r := 0; r < 32; r++ {
		for i := range ws {
			k.round(&ws[i], r)
		}
	}
	for i, w := range ws {
		k.output(w, i, buffered)
	}
	if buffered {
		return
	}
	ADDQ(U32(256*g), k.src)
	ADDQ(U32(256*g), k.dst)
	SUBQ(U32(256*g), k.n)
}

// round is X[r+4] = X[r] ^ L(τ(X[r+1] ^ X[r+2] ^ X[r+3] ^ rk[r])), with
// X[r+4] written over X[r]'s register.
func (k *kernel) round(w *[4]VecVirtual, r int) {
	a, b, c, d := w[(r+1)%4], w[(r+2)%4], w[(r+3)%4], w[r%4]
	t := ZMM()
	VPXORD(a, b, t)
	VPTERNLOGD_BCST(U8(0x96), Mem{Base: k.rk}.Offset(4*r), c, t) // t ^= c ^ rk[r]
	VGF2P8AFFINEQB(U8(k.s.preConst), k.pre, t, t)
	VGF2P8AFFINEINVQB(U8(k.s.postConst), k.post, t, t)
	// L(t) = t ^ (t <<< 2) ^ (t <<< 10) ^ (t <<< 18) ^ (t <<< 24).
	VPXORD(t, d, d)
	r1, r2 := ZMM(), ZMM()
	VPROLD(U8(2), t, r1)
	VPROLD(U8(10), t, r2)
	VPTERNLOGD(U8(0x96), r2, r1, d)
	r3, r4 := ZMM(), ZMM()
	VPROLD(U8(18), t, r3)
	VPROLD(U8(24), t, r4)
	VPTERNLOGD(U8(0x96), r4, r3, d)
}

// output turns group i's words (X32..X35) back into blocks: the output
// block is X35 || X34 || X33 || X32, big endian. A 4x4 dword transpose in
// every 128-bit lane gives four registers of four consecutive blocks.
func (k *kernel) output(w [4]VecVirtual, i int, buffered bool) {
	a, b, c, d := w[3], w[2], w[1], w[0]
	t0, t1, t2, t3 := ZMM(), ZMM(), ZMM(), ZMM()
	VPUNPCKLDQ(b, a, t0)
	VPUNPCKHDQ(b, a, t1)
	VPUNPCKLDQ(d, c, t2)
	VPUNPCKHDQ(d, c, t3)
	o := [4]VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
	VPUNPCKLQDQ(t2, t0, o[0])
	VPUNPCKHQDQ(t2, t0, o[1])
	VPUNPCKLQDQ(t3, t1, o[2])
	VPUNPCKHQDQ(t3, t1, o[3])
	for j, x := range o {
		VPSHUFB(k.bswap, x, x)
		off := 256*i + 64*j
		if buffered {
			VMOVDQU64(x, k.buf.Offset(16+off))
			continue
		}
		VPXORQ(Mem{Base: k.src}.Offset(off), x, x)
		VMOVDQU64(x, Mem{Base: k.dst}.Offset(off))
	}
}

type constants struct {
	pre, post, bswap, idxEven, idxOdd, offA, offB, sixteen Mem
	topBytes                                               Mem // 16 zeros, 16 ones: read at +m, the top m bytes
}

var cs *constants

func consts() *constants {
	if cs != nil {
		return cs
	}
	s := deriveSbox()
	cs = &constants{}
	cs.pre = GLOBL("sboxPre", NOPTR|RODATA)
	DATA(0, U64(s.pre.gfni()))
	cs.post = GLOBL("sboxPost", NOPTR|RODATA)
	DATA(0, U64(s.post.gfni()))
	cs.bswap = GLOBL("bswapDwords", NOPTR|RODATA)
	DATA(0, U64(0x0405060700010203))
	DATA(8, U64(0x0c0d0e0f08090a0b))
	cs.sixteen = GLOBL("sixteen", NOPTR|RODATA)
	DATA(0, U64(16))
	dwords := func(name string, f func(k int) uint32) Mem {
		m := GLOBL(name, NOPTR|RODATA)
		for k := 0; k < 16; k++ {
			DATA(4*k, U32(f(k)))
		}
		return m
	}
	cs.idxEven = dwords("idxEven", func(k int) uint32 { return uint32(2 * k) })
	cs.idxOdd = dwords("idxOdd", func(k int) uint32 { return uint32(2*k + 1) })
	qwords := func(name string, from int) Mem {
		m := GLOBL(name, NOPTR|RODATA)
		for j := 0; j < 8; j++ {
			lane := from + j
			DATA(8*j, U64(uint64((lane%4)*4+lane/4)))
		}
		return m
	}
	cs.topBytes = GLOBL("topBytes", NOPTR|RODATA)
	DATA(0, U64(0))
	DATA(8, U64(0))
	DATA(16, U64(^uint64(0)))
	DATA(24, U64(^uint64(0)))
	cs.offA = qwords("laneOffsetsA", 0)
	cs.offB = qwords("laneOffsetsB", 8)
	return cs
}
