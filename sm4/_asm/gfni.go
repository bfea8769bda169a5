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
// round for 16 blocks. The words are kept in the S-box pre-map's
// coordinates (see zDomain), which takes the pre-map out of the round.
// Four groups (64 blocks) are in flight in the main loop; each round's
// chain, from one S-box input to the next, is one GFNI, a rotation and two
// XORs (see round), and with four chains the vector units, not the chains,
// bound the kernel: five groups of a round with one instruction fewer but
// a longer chain ran 0.96x as fast, and do not fit with this round.
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
	k.buf = AllocLocal(16 + 1024)
	k.rkz = AllocLocal(4*32 + 8) // and a zero pad, 8 bytes to keep the frame aligned
	k.hiW = AllocLocal(8)
	k.setup(hi, lo)

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
	s          sboxAffine
	z          zDomain
	rk         Register
	rkz        Mem        // the round keys moved into the pre-map's coordinates, and a zero pad
	mp, mq, mr VecVirtual // the round's three inverse-and-post-maps (see zDomain)
	bswap      VecVirtual // reverses the bytes of each dword
	hiW        Mem        // the counter's high words: hi>>32, then hi's low half
	qa, qb     VecVirtual // low 64 bits of the next group's counters
	buf        Mem        // 16 bytes of pad, then up to 64 blocks of keystream
}

// setup loads the constants and the first group's counters.
func (k *kernel) setup(hi, lo Register) {
	c := consts()
	k.z = deriveZDomain(k.s)
	zc := zConsts(k.z)
	k.mp, k.mq, k.mr = ZMM(), ZMM(), ZMM()
	VPBROADCASTQ(zc.p, k.mp)
	VPBROADCASTQ(zc.q, k.mq)
	VPBROADCASTQ(zc.r, k.mr)
	// rk' = pre·rk ⊕ preConst, bytewise, for all 32 round keys.
	for i := range 2 {
		x := ZMM()
		VMOVDQU32(Mem{Base: k.rk}.Offset(64*i), x)
		VGF2P8AFFINEQB_BCST(U8(k.s.preConst), c.pre, x, x)
		VMOVDQU32(x, k.rkz.Offset(64*i))
	}
	MOVL(U32(0), k.rkz.Offset(4*32))
	k.bswap = ZMM()
	VBROADCASTI32X4(c.bswap, k.bswap)
	// The rounds hold five registers per group in flight; constants used
	// once per group stay in memory.
	w := GP64()
	MOVQ(hi, w)
	SHRQ(Imm(32), w)
	MOVL(w.As32(), k.hiW)
	MOVL(hi.(GPVirtual).As32(), k.hiW.Offset(4))
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
	c := consts()
	VPBROADCASTD(k.hiW, w[0])
	VPBROADCASTD(k.hiW.Offset(4), w[1])
	VMOVDQU64(c.idxOdd, w[2])
	VPERMI2D(k.qb, k.qa, w[2])
	VMOVDQU64(c.idxEven, w[3])
	VPERMI2D(k.qb, k.qa, w[3])
	VPADDQ_BCST(c.sixteen, k.qa, k.qa)
	VPADDQ_BCST(c.sixteen, k.qb, k.qb)
	for j := range w {
		VGF2P8AFFINEQB_BCST(U8(0), consts().pre, w[j], w[j]) // into the pre-map's coordinates
	}
	return w
}

// groups encrypts g groups of counters and XORs them into src → dst,
// advancing src, dst and n, or (buffered) stores the keystream in the
// buffer after its pad.
//
// The 32 rounds are a loop of four: a round's registers come back to the
// same roles every four rounds, so only the round keys' address moves.
// Unrolled, the kernel was 32 KiB of code, as much as the L1 instruction
// cache: in a benchmark loop that costs nothing, but between Pebble's
// block reads the code was evicted, and every call fetched it again.
func (k *kernel) groups(g int, buffered bool) {
	ws := make([][4]VecVirtual, g)
	for i := range ws {
		ws[i] = k.counters()
	}
	// Each group's S-box input alternates between two registers, so that
	// it is back in the first after four rounds.
	ts := make([][2]VecVirtual, g)
	for i := range ws {
		ts[i] = [2]VecVirtual{k.input(&ws[i], 0), ZMM()}
	}
	rk, end := GP64(), GP64()
	LEAQ(k.rkz, rk)
	LEAQ(k.rkz.Offset(4*32), end)
	loop := label("rounds")
	Label(loop)
	for r := range 4 {
		for i := range ws {
			k.round(&ws[i], r, Mem{Base: rk}, ts[i][r%2], ts[i][(r+1)%2])
		}
	}
	ADDQ(U8(16), rk)
	CMPQ(rk, end)
	JB(LabelRef(loop))
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

// input returns round r's S-box input, Z[r+1] ^ Z[r+2] ^ Z[r+3] ^ rk'[r].
func (k *kernel) input(w *[4]VecVirtual, r int) VecVirtual {
	t := ZMM()
	VPXORD(w[(r+1)%4], w[(r+2)%4], t)
	VPTERNLOGD_BCST(U8(0x96), k.rkz.Offset(4*r), w[(r+3)%4], t)
	return t
}

// round is Z[r+4] = Z[r] ^ pre·L(τ(X[r+1] ^ X[r+2] ^ X[r+3] ^ rk[r])) in
// the pre-map's coordinates (see zDomain), with Z[r+4] written over Z[r]'s
// register; t is the S-box's input, Z[r+1] ^ Z[r+2] ^ Z[r+3] ^ rk'[r], and
// rk points at rk'[r - r%4]. The three inversions (each with its post-map
// and a bytewise part of L) run side by side, and the next round's input
// is built into u from this one's parts rather than from Z[r+4], so the
// chain from one S-box input to the next is one GFNI, a rotation and two
// XORs. After round 31, u is built from rk'[32], a zero pad, and unused.
func (k *kernel) round(w *[4]VecVirtual, r int, rk Mem, t, u VecVirtual) {
	b, c, d := w[(r+2)%4], w[(r+3)%4], w[r%4]
	p, q := ZMM(), ZMM()
	VGF2P8AFFINEINVQB(U8(k.z.pConst), k.mp, t, p)
	VGF2P8AFFINEINVQB(U8(k.z.qConst), k.mq, t, q)
	VGF2P8AFFINEINVQB(U8(k.z.rConst), k.mr, t, t)
	// e = q<<<8 ^ q<<<16 ^ r<<<24; Z[r+4] = d ^ p ^ e.
	e := ZMM()
	VPROLD(U8(8), q, e)
	VPROLD(U8(16), q, q)
	VPROLD(U8(24), t, t)
	VPTERNLOGD(U8(0x96), q, t, e)
	// The next input, Z[r+2] ^ Z[r+3] ^ Z[r+4] ^ rk'[r+1], with Z[r+4]
	// spelled out: its d (the old Z[r]) and rk' are ready early.
	VPXORD(b, c, u)
	VPTERNLOGD_BCST(U8(0x96), rk.Offset(4*(r+1)), d, u)
	VPTERNLOGD(U8(0x96), e, p, d)
	VPTERNLOGD(U8(0x96), e, p, u)
}

// output turns group i's words (X32..X35) back into blocks: the output
// block is X35 || X34 || X33 || X32, big endian. A 4x4 dword transpose in
// every 128-bit lane gives four registers of four consecutive blocks.
func (k *kernel) output(w [4]VecVirtual, i int, buffered bool) {
	for j := range w {
		VGF2P8AFFINEQB_BCST(U8(0), zConsts(k.z).preInv, w[j], w[j]) // back from the pre-map's coordinates
	}
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
