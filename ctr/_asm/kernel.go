package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one vector width: how many AES blocks a register holds and which
// instructions move, shuffle and encrypt them.
type isa struct {
	name   string // kernel name suffix
	blocks int    // AES blocks per register: 1 (xmm), 2 (ymm) or 4 (zmm)
	batch  int    // registers in flight in the main loop
	vec    func() VecVirtual
	// keysInRegs holds every round key in a register for the whole call;
	// only AVX-512's 32 registers have room for 15 keys and 8 states.
	keysInRegs bool
}

var (
	// aesni uses legacy SSE encodings only: it must run on CPUs with
	// AES-NI but no AVX (Westmere, Goldmont). Legacy SSE faults on
	// unaligned memory operands, so memory is read with MOVOU first.
	aesni = isa{name: "AESNI", blocks: 1, batch: 8, vec: XMM}
	// vaesYMM needs AVX2 and VAES (Zen 3, Alder Lake and later).
	vaesYMM = isa{name: "VAESYMM", blocks: 2, batch: 8, vec: YMM}
	// vaesZMM needs AVX-512 (F, BW, VL) and VAES: 32 blocks in flight.
	vaesZMM = isa{name: "VAESZMM", blocks: 4, batch: 8, vec: ZMM, keysInRegs: true}
)

func (k isa) evex() bool { return k.blocks == 4 }

// bcast loads a 16-byte value into every 128-bit lane of a register.
func (k isa) bcast(m Mem, x VecVirtual) {
	switch k.blocks {
	case 1:
		MOVOU(m, x)
	case 2:
		VBROADCASTI128(m, x)
	default:
		VBROADCASTI32X4(m, x)
	}
}

// xor sets dst = a ^ b; a may be memory (not for legacy SSE).
func (k isa) xor(a Op, b, dst Register) {
	switch {
	case k.blocks == 1:
		if dst != b {
			MOVO(b, dst)
		}
		PXOR(a, dst)
	case k.evex():
		VPXORQ(a, b, dst)
	default:
		VPXOR(a, b, dst)
	}
}

// store writes a register to memory.
func (k isa) store(x Register, m Mem) {
	switch {
	case k.blocks == 1:
		MOVOU(x, m)
	case k.evex():
		VMOVDQU64(x, m)
	default:
		VMOVDQU(x, m)
	}
}

func (k isa) shuffle(mask, x, dst Register) {
	if k.blocks == 1 {
		MOVO(x, dst)
		PSHUFB(mask, dst)
		return
	}
	VPSHUFB(mask, x, dst)
}

func (k isa) add(a Op, dst Register) {
	if k.blocks == 1 {
		PADDQ(a, dst)
		return
	}
	VPADDQ(a, dst, dst)
}

func (k isa) aesenc(key Op, x Register) {
	if k.blocks == 1 {
		AESENC(key, x)
		return
	}
	VAESENC(key, x, x)
}

func (k isa) aesenclast(key Op, x Register) {
	if k.blocks == 1 {
		AESENCLAST(key, x)
		return
	}
	VAESENCLAST(key, x, x)
}

// kernel implements ctrBlocks<name>(nr, rk, dst, src, n, hi, lo): n >= 1
// whole blocks, dst = src ^ AES(counter i), counter i = hi || lo+i (big
// endian). The caller guarantees lo+n-1 does not wrap, so counters are
// built with 64-bit adds on the low half only.
func kernel(k isa) {
	Implement("ctrBlocks" + k.name)
	nr := Load(Param("nr"), GP64())
	rk := Load(Param("rk"), GP64())
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	hi := Load(Param("hi"), GP64())
	lo := Load(Param("lo"), GP64())

	// One straight-line body per key size: no branch on the round count
	// inside the loops.
	CMPQ(nr, Imm(12))
	JE(LabelRef("aes192"))
	JA(LabelRef("aes256"))
	body(k, 10, rk, dst, src, n, hi, lo)
	Label("aes192")
	body(k, 12, rk, dst, src, n, hi, lo)
	Label("aes256")
	body(k, 14, rk, dst, src, n, hi, lo)
}

func body(k isa, rounds int, rk, dst, src, n, hi, lo Register) {
	lbl := func(s string) string { return fmt.Sprintf("r%d_%s", rounds, s) }
	key := func(r int) Mem { return Mem{Base: rk}.Offset(16 * r) }

	mask := k.vec()
	k.bcast(consts().bswap, mask)

	// cur holds the next counters, one per 128-bit lane, as [lo, hi]
	// quadwords: little endian, so a 64-bit add increments them, and a byte
	// reversal of each lane gives the big-endian counter block.
	cur := k.vec()
	if k.blocks == 1 {
		MOVQ(lo, cur)
		PINSRQ(Imm(1), hi, cur)
	} else {
		x := cur.AsX()
		VMOVQ(lo, x)
		VPINSRQ(Imm(1), hi, x, x)
		if k.blocks == 2 {
			VINSERTI128(Imm(1), x, cur, cur)
		} else {
			VSHUFI64X2(Imm(0), cur, cur, cur)
		}
		VPADDQ(consts().laneOffsets, cur, cur)
	}
	inc := k.vec()
	if k.blocks == 1 {
		MOVOU(consts().inc[1], inc)
	} else {
		VMOVDQU64orVMOVDQU(k, consts().inc[k.blocks], inc)
	}

	var keys []VecVirtual
	if k.keysInRegs {
		for r := 0; r <= rounds; r++ {
			keys = append(keys, k.vec())
			k.bcast(key(r), keys[r])
		}
	}
	roundKey := func(r int) Register {
		if k.keysInRegs {
			return keys[r]
		}
		t := k.vec()
		k.bcast(key(r), t)
		return t
	}

	// encrypt runs every round over states and XORs in src: the source is
	// folded into the last round key so the final AESENCLAST writes the
	// output directly.
	encrypt := func(states []VecVirtual) {
		k0 := roundKey(0)
		for _, s := range states {
			k.xor(k0, s, s)
		}
		for r := 1; r < rounds; r++ {
			kr := roundKey(r)
			for _, s := range states {
				k.aesenc(kr, s)
			}
		}
		kl := roundKey(rounds)
		for j, s := range states {
			t := k.vec()
			in := Mem{Base: src}.Offset(16 * k.blocks * j)
			if k.blocks == 1 {
				MOVOU(in, t)
				PXOR(kl, t)
			} else {
				k.xor(in, kl, t)
			}
			k.aesenclast(t, s)
			k.store(s, Mem{Base: dst}.Offset(16*k.blocks*j))
		}
	}

	// loop processes regs registers of blocks per iteration while enough
	// blocks remain.
	loop := func(name string, regs int, next string) {
		step := regs * k.blocks
		Label(lbl(name))
		CMPQ(n, U32(step))
		JB(LabelRef(lbl(next)))
		states := make([]VecVirtual, regs)
		for j := range states {
			states[j] = k.vec()
			k.shuffle(mask, cur, states[j])
			k.add(inc, cur)
		}
		encrypt(states)
		ADDQ(U32(16*step), src)
		ADDQ(U32(16*step), dst)
		SUBQ(U32(step), n)
		JMP(LabelRef(lbl(name)))
	}

	if k.blocks == 1 {
		loop("wide", k.batch, "one")
		loop("one", 1, "done")
	} else {
		loop("wide", k.batch, "reg")
		loop("reg", 1, "one")
		oneBlock(k, lbl, rounds, keys, rk, dst, src, n, mask, cur)
	}
	Label(lbl("done"))
	if k.blocks > 1 {
		VZEROUPPER()
	}
	RET()
}

// oneBlock finishes a ymm or zmm kernel: the last blocks that do not fill a
// register, one at a time on xmm, counters taken from lane 0 of cur.
func oneBlock(k isa, lbl func(string) string, rounds int, keys []VecVirtual, rk, dst, src, n Register, mask, cur VecVirtual) {
	Label(lbl("one"))
	TESTQ(n, n)
	JZ(LabelRef(lbl("done")))
	x := XMM()
	k.shuffle(mask.AsX(), cur.AsX(), x)
	VPADDQ(consts().inc[1], cur.AsX(), cur.AsX())
	key := func(r int) Op {
		if k.keysInRegs {
			return keys[r].AsX()
		}
		return Mem{Base: rk}.Offset(16 * r)
	}
	k.xor(key(0), x, x)
	for r := 1; r < rounds; r++ {
		VAESENC(key(r), x, x)
	}
	t := XMM()
	if k.keysInRegs {
		VPXORQ(Mem{Base: src}, key(rounds), t)
	} else {
		VMOVDQU(Mem{Base: src}, t)
		VPXOR(key(rounds), t, t)
	}
	VAESENCLAST(t, x, x)
	k.store(x, Mem{Base: dst})
	ADDQ(Imm(16), src)
	ADDQ(Imm(16), dst)
	DECQ(n)
	JMP(LabelRef(lbl("one")))
}

func VMOVDQU64orVMOVDQU(k isa, m Mem, x Register) {
	if k.evex() {
		VMOVDQU64(m, x)
	} else {
		VMOVDQU(m, x)
	}
}

type constants struct {
	bswap       Mem         // reverses the 16 bytes of a lane
	laneOffsets Mem         // [0,0, 1,0, 2,0, 3,0] quadwords: lane i gets +i
	inc         map[int]Mem // [n,0] in each lane, for n = 1, 2, 4
}

var cs *constants

func consts() *constants {
	if cs != nil {
		return cs
	}
	cs = &constants{inc: map[int]Mem{}}
	cs.bswap = GLOBL("bswapMask", NOPTR|RODATA)
	DATA(0, U64(0x08090a0b0c0d0e0f))
	DATA(8, U64(0x0001020304050607))
	cs.laneOffsets = GLOBL("laneOffsets", NOPTR|RODATA)
	for i := 0; i < 4; i++ {
		DATA(16*i, U64(uint64(i)))
		DATA(16*i+8, U64(0))
	}
	for _, b := range []int{1, 2, 4} {
		cs.inc[b] = GLOBL(fmt.Sprintf("inc%d", b), NOPTR|RODATA)
		for i := 0; i < b; i++ {
			DATA(16*i, U64(uint64(b)))
			DATA(16*i+8, U64(0))
		}
	}
	return cs
}
