package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// encoding is how a kernel's vector instructions are encoded, which decides
// what they may use: VEX (AVX2) reaches ymm registers 0-15 and has no mask
// registers or ternary logic; EVEX (AVX-512) has zmm, 32 registers and both.
type encoding int

const (
	vex encoding = iota
	evex
)

// call is the data side of a byte-granular kernel call: the destination and
// source pointers and the number of bytes left, advanced as the call goes.
type call struct {
	dst, src, n Register
}

// labelCount numbers the labels label makes. A label names a place in
// one function, but the emitters below run more than once per kernel, so
// every label they make carries a number of its own.
var labelCount int

// label returns a label not made before: prefix and a fresh number.
func label(prefix string) string {
	labelCount++
	return fmt.Sprintf("%s%d", prefix, labelCount)
}

// consume XORs min(n, size-skip) bytes of keystream from the buffer at bp
// into src → dst and advances src, dst and n. size-skip bytes are all the
// buffer holds from bp on, and the buffer has 16 bytes of pad before its
// keystream.
func (c call) consume(e encoding, bp Register, size int, skip Register) {
	id := label("c")
	lbl := func(s string) string { return id + "_" + s }
	m := GP64()
	MOVQ(U32(size), m)
	SUBQ(skip, m)
	CMPQ(m, c.n)
	CMOVQGT(c.n, m)
	SUBQ(m, c.n)

	wide := 32
	if e == evex {
		wide = 64
	}
	for _, step := range []int{wide, 16} {
		loop, end := lbl(fmt.Sprint("x", step)), lbl(fmt.Sprint("x", step, "_end"))
		Label(loop)
		CMPQ(m, U32(step))
		JB(LabelRef(end))
		switch {
		case e == evex:
			x := ZMM()
			if step == 16 {
				x = XMM()
			}
			VMOVDQU64(Mem{Base: c.src}, x)
			VPXORQ(Mem{Base: bp}, x, x)
			VMOVDQU64(x, Mem{Base: c.dst})
		default:
			x := YMM()
			if step == 16 {
				x = XMM()
			}
			VMOVDQU(Mem{Base: c.src}, x)
			VPXOR(Mem{Base: bp}, x, x)
			VMOVDQU(x, Mem{Base: c.dst})
		}
		for _, p := range []Register{c.src, c.dst, bp} {
			ADDQ(U32(step), p)
		}
		SUBQ(U32(step), m)
		JMP(LabelRef(loop))
		Label(end)
	}

	// The last m < 16 bytes: the window [m-16, m) from the current position
	// lies inside the data (every call has n >= 16) and inside the buffer
	// (16 bytes of pad before it); its low 16-m bytes are already final.
	// dst = D ^ ((S ^ D ^ K) & M), M selecting the top m bytes.
	end := lbl("end")
	TESTQ(m, m)
	JZ(LabelRef(end))
	win := func(base Register) Mem { return Mem{Base: base, Index: m, Scale: 1, Disp: -16} }
	tbl := GP64()
	if e == evex {
		sv, dv, kv := XMM(), XMM(), XMM()
		VMOVDQU64(win(c.src), sv)
		VMOVDQU64(win(c.dst), dv)
		VMOVDQU64(win(bp), kv)
		VPTERNLOGD(U8(0x96), dv, kv, sv) // sv = S ^ K ^ D
		LEAQ(consts().topBytes, tbl)
		VPANDQ(Mem{Base: tbl, Index: m, Scale: 1}, sv, sv)
		VPXORQ(dv, sv, sv)
		VMOVDQU64(sv, win(c.dst))
	} else {
		sv, dv := XMM(), XMM()
		VMOVDQU(win(c.src), sv)
		VMOVDQU(win(c.dst), dv)
		VPXOR(win(bp), sv, sv)
		VPXOR(dv, sv, sv) // sv = S ^ K ^ D
		LEAQ(consts().topBytes, tbl)
		VPAND(Mem{Base: tbl, Index: m, Scale: 1}, sv, sv)
		VPXOR(dv, sv, sv)
		VMOVDQU(sv, win(c.dst))
	}
	ADDQ(m, c.src)
	ADDQ(m, c.dst)
	Label(end)
}

// batcher is a VEX kernel's batch: g groups of w-wide registers of counter
// blocks encrypted and XORed into src → dst (advancing src, dst and n), or
// (buffered) stored as keystream after the 16 bytes of pad of the buffer.
type batcher interface {
	groups(w width, g int, buffered bool)
}

// ymmCall is the call structure of the VEX kernels, g groups of 8 blocks
// in flight: the first and the last batch through buf (16 bytes of pad,
// then room for g groups) and merged byte-granular by consume, whole
// batches straight from registers between them. skip is the first
// batch's offset into its keystream and is reused (zeroed) for the last.
// graded sizes the first batch to the call (see below).
func ymmCall(k batcher, c call, g int, graded bool, skip Register, buf Mem) {
	// The first batch: half a group (xmm) if the call touches at most 4
	// blocks (skip+n <= 64), one group if at most 8, else a full batch.
	bp := GP64()
	LEAQ(buf.Offset(16), bp)
	ADDQ(skip, bp)
	t := GP64()
	MOVQ(skip, t)
	ADDQ(c.n, t)
	CMPQ(t, U32(64))
	JA(LabelRef("first_group"))
	k.groups(xmmWidth, 1, true)
	c.consume(vex, bp, 64, skip)
	JMP(LabelRef("aligned"))
	Label("first_group")
	// graded: j groups if the call touches at most 8j blocks, for each
	// j < g, so that a short call does not run a whole batch of g.
	sizes := []int{1}
	for j := 2; graded && j < g; j++ {
		sizes = append(sizes, j)
	}
	for _, j := range sizes {
		next := "first_full"
		if j+1 < g && graded {
			next = fmt.Sprintf("first_%d", j+1)
		}
		CMPQ(t, U32(128*j))
		JA(LabelRef(next))
		k.groups(ymmWidth, j, true)
		c.consume(vex, bp, 128*j, skip)
		JMP(LabelRef("aligned"))
		if next != "first_full" {
			Label(next)
		}
	}
	Label("first_full")
	k.groups(ymmWidth, g, true)
	c.consume(vex, bp, 128*g, skip)

	Label("aligned")
	Label("full")
	CMPQ(c.n, U32(128*g))
	JB(LabelRef("full_end"))
	k.groups(ymmWidth, g, false)
	JMP(LabelRef("full"))
	Label("full_end")

	// Fewer than g groups of whole blocks remain: each smaller batch at
	// most once.
	for j := g - 1; j >= 1; j-- {
		end := fmt.Sprintf("g%d_end", j)
		CMPQ(c.n, U32(128*j))
		JB(LabelRef(end))
		k.groups(ymmWidth, j, false)
		Label(end)
	}

	// The last n < 128 bytes.
	TESTQ(c.n, c.n)
	JZ(LabelRef("done"))
	LEAQ(buf.Offset(16), bp)
	XORQ(skip, skip)
	CMPQ(c.n, U32(64))
	JA(LabelRef("last_group"))
	k.groups(xmmWidth, 1, true)
	c.consume(vex, bp, 64, skip)
	JMP(LabelRef("done"))
	Label("last_group")
	k.groups(ymmWidth, 1, true)
	c.consume(vex, bp, 128, skip)

	Label("done")
	VZEROUPPER()
	RET()
}

// emitBlocks turns group i's words X32..X35 (w[0..3]) back into blocks and
// XORs them into src → dst (or, buffered, stores the keystream after the
// buffer's pad): the output block is X35 || X34 || X33 || X32, big endian.
// A 4x4 dword transpose in every 128-bit lane gives registers of
// consecutive blocks, in memory order because of the counters' lane order
// (lanes.go). Shared by the two AVX2 kernels.
func (c call) emitBlocks(w [4]VecVirtual, gr group, i int, buffered bool, bswap, buf Mem) {
	a, b, cc, d := w[3], w[2], w[1], w[0]
	t0, t1, t2, t3 := gr.w.vec(), gr.w.vec(), gr.w.vec(), gr.w.vec()
	VPUNPCKLDQ(b, a, t0)
	VPUNPCKHDQ(b, a, t1)
	VPUNPCKLDQ(d, cc, t2)
	VPUNPCKHDQ(d, cc, t3)
	emit := func(j int, x VecVirtual) {
		VPSHUFB(bswap, x, x)
		off := 16*gr.w.blocks()*i + int(gr.w.size())*j
		if buffered {
			VMOVDQU(x, buf.Offset(16+off))
			return
		}
		VPXOR(Mem{Base: c.src}.Offset(off), x, x)
		VMOVDQU(x, Mem{Base: c.dst}.Offset(off))
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

// counterWords builds group i's counter blocks word-sliced (lane order:
// lanes.go) for the AVX2 kernels: words 0 and 1, the counter's high half
// (hi, word 0 at +4), go into the group's slots; words 2 and 3 come from
// 64-bit adds of lo and are returned in registers. It advances lo past
// the group.
func counterWords(w width, i int, words, hi Mem, lo Register, c *aesniConsts) (gr group, w2, w3 VecVirtual) {
	gr = group{w: w, slots: words.Offset(128 * i)}
	for j, off := range []int{4, 0} {
		x := w.vec()
		VPBROADCASTD(hi.Offset(off), x)
		VMOVDQU(x, gr.slot(j))
	}
	x := XMM()
	VMOVQ(lo, x)
	qa, qb := w.vec(), w.vec()
	VPBROADCASTQ(x, qb)
	VPADDQ(c.offA[w], qb, qa)
	VPADDQ(c.offB[w], qb, qb)
	w2, w3 = w.vec(), w.vec()
	VSHUFPS(U8(shufHighDwords), qb, qa, w2)
	VSHUFPS(U8(shufLowDwords), qb, qa, w3)
	ADDQ(U8(w.blocks()), lo)
	return gr, w2, w3
}
