package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// kernel implements ctr<name>(nr, rk, dst, src, n, skip, hi, lo):
// dst[i] = src[i] ^ keystream byte skip+i for i < n, the keystream starting
// at counter block hi||lo (big endian), skip < 16, n >= 16. The caller
// guarantees the low 64 bits of the counter do not wrap across the blocks
// the call touches, so counters are built with 64-bit adds.
//
// A call is a partial head block, whole blocks, and a partial tail. Both
// partial blocks are done with full 16-byte accesses that stay inside the
// buffers (n >= 16 makes room): no masked or byte-wise memory access, which
// costs a microcode assist per page crossed on some CPUs.
func kernel(k isa) {
	Implement("ctr" + k.name)
	p := loadParams()
	dispatchRounds(p.nr, func(rounds int) {
		head(k.xmm(), rounds, p)
		st := setup(k, rounds, p)
		blockLoop(st)
		// Fewer than batch registers of blocks remain: each power-of-two
		// group at most once, straight-line, so their chains overlap.
		for regs := k.batch / 2; regs >= 1; regs /= 2 {
			group(st, regs)
		}
		if k.blocks > 1 {
			singles(st)
		}
		tail(st)
		Label(st.lbl("done"))
		if k.enc != legacy {
			VZEROUPPER()
		}
		RET()
	})
}

type params struct{ nr, rk, dst, src, n, skip, hi, lo Register }

func loadParams() *params {
	p := &params{}
	for _, a := range []struct {
		name string
		r    *Register
	}{{"nr", &p.nr}, {"rk", &p.rk}, {"dst", &p.dst}, {"src", &p.src}, {"n", &p.n}, {"skip", &p.skip}, {"hi", &p.hi}, {"lo", &p.lo}} {
		*a.r = Load(Param(a.name), GP64())
	}
	return p
}

// dispatchRounds emits one straight-line body per key size, so no branch
// on the round count sits inside the loops.
func dispatchRounds(nr Register, body func(rounds int)) {
	CMPQ(nr, Imm(12))
	JE(LabelRef("aes192"))
	JA(LabelRef("aes256"))
	body(10)
	Label("aes192")
	body(12)
	Label("aes256")
	body(14)
}

func lbl(rounds int, s string) string { return fmt.Sprintf("r%d_%s", rounds, s) }

// keystream encrypts counter block x (already byte-reversed) in place.
// key(r) gives round key r as an operand.
func keystream(x isa, rounds int, key func(r int) Op, v Register) {
	x.xor(key(0), v, v)
	for r := 1; r < rounds; r++ {
		x.aesenc(key(r), v)
	}
	x.aesenclast(key(rounds), v)
}

func memKey(rk Register) func(int) Op {
	return func(r int) Op { return Mem{Base: rk}.Offset(16 * r) }
}

// head does the bytes up to the first block boundary when skip != 0. The
// keystream block is shifted right by skip bytes (zeros shifted in), XORed
// over the first 16 bytes of src and stored over the first 16 of dst: the
// bytes past the head come back unchanged (in place) or are overwritten by
// the blocks that follow. Nothing later depends on it, so its latency
// overlaps with the bulk.
func head(x isa, rounds int, p *params) {
	done := lbl(rounds, "head_end")
	TESTQ(p.skip, p.skip)
	JZ(LabelRef(done))

	v := XMM()
	if x.enc == legacy {
		MOVQ(p.lo, v)
		PINSRQ(Imm(1), p.hi, v)
	} else {
		VMOVQ(p.lo, v)
		VPINSRQ(Imm(1), p.hi, v, v)
	}
	x.shuffle(consts().bswap, v, v)
	keystream(x, rounds, memKey(p.rk), v)
	tbl := GP64()
	LEAQ(consts().shiftRight, tbl)
	x.shuffle(Mem{Base: tbl, Index: p.skip, Scale: 1}, v, v)
	x.xor(Mem{Base: p.src}, v, v)
	x.store(v, Mem{Base: p.dst})

	h := GP64()
	MOVQ(U32(16), h)
	SUBQ(p.skip, h)
	ADDQ(h, p.src)
	ADDQ(h, p.dst)
	INCQ(p.lo)
	SUBQ(h, p.n)
	Label(done)
}

// state is what one body keeps in registers.
type state struct {
	k         isa
	rounds    int
	p         *params
	mask, cur VecVirtual
	inc       VecVirtual
}

func (st *state) lbl(s string) string { return lbl(st.rounds, s) }

// setup loads the byte-reversal mask and the first counters.
func setup(k isa, rounds int, p *params) *state {
	st := &state{k: k, rounds: rounds, p: p}
	st.mask = k.vec()
	k.bcast(consts().bswap, st.mask)
	// cur holds the next counters, one per 128-bit lane, as [lo, hi]
	// quadwords: little endian, so a 64-bit add increments them, and a byte
	// reversal of each lane gives the big-endian counter block.
	st.cur = k.vec()
	if k.enc == legacy {
		MOVQ(p.lo, st.cur)
		PINSRQ(Imm(1), p.hi, st.cur)
	} else {
		x := st.cur.AsX()
		VMOVQ(p.lo, x)
		VPINSRQ(Imm(1), p.hi, x, x)
		if k.blocks == 2 {
			VINSERTI128(Imm(1), x, st.cur, st.cur)
		} else {
			VSHUFI64X2(Imm(0), st.cur, st.cur, st.cur)
		}
		VPADDQ(consts().laneOffsets, st.cur, st.cur)
	}
	st.inc = k.vec()
	k.load(consts().inc[k.blocks], st.inc)
	return st
}

// roundKey loads round key r into every lane of a register.
func (st *state) roundKey(r int) Register {
	t := st.k.vec()
	st.k.bcast(Mem{Base: st.p.rk}.Offset(16*r), t)
	return t
}

// xkey is round key r for one-block (xmm) work.
func (st *state) xkey(r int) Op {
	return memKey(st.p.rk)(r)
}

// counters fills regs registers with the next counter blocks.
func (st *state) counters(regs int) []VecVirtual {
	states := make([]VecVirtual, regs)
	for j := range states {
		states[j] = st.k.vec()
		st.k.shuffle(st.mask, st.cur, states[j])
		st.k.add(st.inc, st.cur)
	}
	return states
}

// groupOf encrypts regs registers of counter blocks, XORs src into dst
// and advances src, dst and n (bytes). The source is folded into the last
// round key, so the final AESENCLAST leaves the output.
func (st *state) groupOf(regs int) {
	k, p := st.k, st.p
	states := st.counters(regs)
	k0 := st.roundKey(0)
	for _, s := range states {
		k.xor(k0, s, s)
	}
	for r := 1; r < st.rounds; r++ {
		kr := st.roundKey(r)
		for _, s := range states {
			k.aesenc(kr, s)
		}
	}
	kl := st.roundKey(st.rounds)
	for j, s := range states {
		t := k.vec()
		k.load(Mem{Base: p.src}.Offset(16*k.blocks*j), t)
		k.xor(kl, t, t)
		k.aesenclast(t, s)
		k.store(s, Mem{Base: p.dst}.Offset(16*k.blocks*j))
	}
	step := 16 * regs * k.blocks
	ADDQ(U32(step), p.src)
	ADDQ(U32(step), p.dst)
	SUBQ(U32(step), p.n)
}

// blockLoop runs the main batch while n allows.
func blockLoop(st *state) {
	Label(st.lbl("wide"))
	CMPQ(st.p.n, U32(16*st.k.batch*st.k.blocks))
	JB(LabelRef(st.lbl("wide_end")))
	st.groupOf(st.k.batch)
	JMP(LabelRef(st.lbl("wide")))
	Label(st.lbl("wide_end"))
}

// group encrypts regs registers of blocks if that many remain.
func group(st *state, regs int) {
	end := st.lbl(fmt.Sprintf("g%d_end", regs))
	CMPQ(st.p.n, U32(16*regs*st.k.blocks))
	JB(LabelRef(end))
	st.groupOf(regs)
	Label(end)
}

// singles does the whole blocks left that do not fill a register, one at a
// time on xmm, counters from lane 0 of cur.
func singles(st *state) {
	x, p := st.k.xmm(), st.p
	loop, end := st.lbl("single"), st.lbl("single_end")
	cur := st.cur.AsX()
	Label(loop)
	CMPQ(p.n, U32(16))
	JB(LabelRef(end))
	v := XMM()
	x.shuffle(st.mask.AsX(), cur, v)
	x.add(consts().inc[1], cur)
	keystream(x, st.rounds, st.xkey, v)
	x.xor(Mem{Base: p.src}, v, v)
	x.store(v, Mem{Base: p.dst})
	ADDQ(U32(16), p.src)
	ADDQ(U32(16), p.dst)
	SUBQ(U32(16), p.n)
	JMP(LabelRef(loop))
	Label(end)
}

// tail does the last n < 16 bytes through the 16-byte window that ends at
// the end of the buffers (the caller's n >= 16 keeps it inside them). The
// keystream block moves to the window's top n bytes; the window's other
// bytes are already final in dst and are written back as they are:
// dst = D ^ ((S ^ D ^ K) & M), M selecting the top n bytes.
func tail(st *state) {
	x, p := st.k.xmm(), st.p
	TESTQ(p.n, p.n)
	JZ(LabelRef(st.lbl("done")))
	v := XMM()
	if x.enc == legacy {
		x.shuffle(st.mask, st.cur, v)
	} else {
		x.shuffle(st.mask.AsX(), st.cur.AsX(), v)
	}
	keystream(x, st.rounds, st.xkey, v)
	tbl := GP64()
	LEAQ(consts().shiftLeft, tbl)
	x.shuffle(Mem{Base: tbl, Index: p.n, Scale: 1}, v, v)

	window := func(base Register) Mem { return Mem{Base: base, Index: p.n, Scale: 1, Disp: -16} }
	s, d := XMM(), XMM()
	x.load(window(p.src), s)
	x.load(window(p.dst), d)
	x.xor(d, s, s)
	x.xor(v, s, s)
	LEAQ(consts().topBytes, tbl)
	x.and(Mem{Base: tbl, Index: p.n, Scale: 1}, s)
	x.xor(d, s, s)
	x.store(s, window(p.dst))
}

type constants struct {
	bswap       Mem         // reverses the 16 bytes of a lane
	laneOffsets Mem         // [0,0, 1,0, 2,0, 3,0] quadwords: lane i gets +i
	inc         map[int]Mem // [n,0] in each lane, for n = 1, 2, 4
	// Read 16 bytes at +k: shiftRight is a PSHUFB index moving byte k+i to
	// i, shiftLeft one moving byte i to 16-k+i, and topBytes a mask of the
	// top k bytes.
	shiftRight, shiftLeft, topBytes Mem
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
	identity := [2]uint64{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	const zero, ones = 0x8080808080808080, 0xffffffffffffffff
	for _, t := range []struct {
		m     *Mem
		name  string
		words [4]uint64
	}{
		{&cs.shiftRight, "shiftRight", [4]uint64{identity[0], identity[1], zero, zero}},
		{&cs.shiftLeft, "shiftLeft", [4]uint64{zero, zero, identity[0], identity[1]}},
		{&cs.topBytes, "topBytes", [4]uint64{0, 0, ones, ones}},
	} {
		*t.m = GLOBL(t.name, NOPTR|RODATA)
		for i, w := range t.words {
			DATA(8*i, U64(w))
		}
	}
	return cs
}
