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

var consumeCount int

// consume XORs min(n, size-skip) bytes of keystream from the buffer at bp
// into src → dst and advances src, dst and n. size-skip bytes are all the
// buffer holds from bp on, and the buffer has 16 bytes of pad before its
// keystream.
func (c call) consume(e encoding, bp Register, size int, skip Register) {
	consumeCount++
	lbl := func(s string) string { return fmt.Sprintf("c%d_%s", consumeCount, s) }
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
