package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// aesniGroups is how many groups of 8 blocks the AES-NI kernel's main loop
// keeps in flight. One group's round is a chain of some 29 cycles against
// about 6 cycles of issue, so one group alone leaves the vector units
// mostly idle. Measured with 16 KiB calls on the Zen 5 this was tuned on,
// 2 groups run at 0.62x the speed of 4, 3 at 0.86x, and 5 no faster than 4
// (+1%, within noise), for a larger stack frame and first batch.
const aesniGroups = 4

// aesniAVX2 implements ctrAESNIAVX2(rk, dst, src, n, skip, hi, lo), with
// the contract of ctrGFNIZMM (see gfniZMM) on AES-NI and AVX2 only: VEX
// encodings, 16 ymm registers, no mask registers.
//
// Blocks are word-sliced: a group is 8 blocks, word j of every block in
// one ymm (4 blocks in an xmm for calls of at most 4), kept in the AES
// field's coordinates (Y = P·X ⊕ p, see aesnisbox.go). A round, for one
// ymm group, is
//
//	3 VPXOR (and a VPBROADCASTD load, a store): Y1 ^ Y2 ^ Y3 ^ P·rk
//	1 VPSHUFB undoing ShiftRows
//	4: VEXTRACTI128, 2 VAESENCLAST (xmm only without VAES), VINSERTI128
//	3: the nibbles of the result (VPSRLW, 2 VPAND)
//	6: the tables of p and q (4 VPSHUFB, 2 VPXOR)
//	8: Y0 ^= p ^ rotl8(q) ^ rotl16(q) ^ rotl24(p ^ q) (3 VPSHUFB, 5 VPXOR)
//
// 25 vector instructions for 8 blocks, 8 of them byte shuffles. Words go
// into the AES field's coordinates when the counters are built and come
// back before the output transpose, six instructions a word.
//
// Only a group's newest word, the one on the round's critical path, lives
// in a register; the other three are on the stack and feed the round as
// memory operands (the newest is stored when the next replaces it). Four
// groups and the round's four temporaries leave eight registers for
// constants: the 0x0f mask, the four tables, the ShiftRows control and
// two of the rotations; the third rotation is a memory operand.
//
// The first and the last batch go through a stack buffer and are merged
// byte-granular, as in gfniZMM; between them batches XOR straight from
// registers. No access leaves the caller's buffers or the stack frame.
func aesniAVX2(s sboxAffine) {
	Implement("ctrAESNIAVX2")
	g := aesniGroups
	k := &aesniKernel{c: aesniConstants(s)}
	k.rk = Load(Param("rk"), GP64())
	k.dst = Load(Param("dst"), GP64())
	k.src = Load(Param("src"), GP64())
	k.n = Load(Param("n"), GP64())
	skip := Load(Param("skip"), GP64())
	hi := Load(Param("hi"), GP64())
	k.lo = Load(Param("lo"), GP64())
	k.rkY = AllocLocal(4 * 32)
	k.hiY = AllocLocal(8)
	k.words = AllocLocal(g * 4 * 32)
	k.buf = AllocLocal(16 + 128*g)
	k.setup(hi)

	ymmCall(k, k.call, g, false, skip, k.buf)
}

// width is the register width a batch works in.
type width int

const (
	xmmWidth width = 1 // 128-bit lanes per register
	ymmWidth width = 2
)

func (w width) vec() VecVirtual {
	if w == xmmWidth {
		return XMM()
	}
	return YMM()
}

func (w width) size() uint  { return 16 * uint(w) } // bytes in a register
func (w width) blocks() int { return 4 * int(w) }   // blocks in a group

type aesniKernel struct {
	call
	c      *aesniConsts
	rk, lo Register // lo: the low 64 bits of the next group's first counter
	rkY    Mem      // the round keys mapped by P
	hiY    Mem      // the counter's words 0 and 1 mapped into Y: word 0 at +4
	words  Mem      // each group's words, 4 x 32 bytes a group
	buf    Mem      // 16 bytes of pad, then up to aesniGroups*8 blocks of keystream

	// held maps the constants a batch keeps in registers (those it has
	// room for) to their registers; the others are read from memory.
	held map[*Mem]VecVirtual
}

// group is one group in flight: its newest word, and where its words are
// kept on the stack (word i in slot i mod 4).
type group struct {
	w      width
	newest VecVirtual
	slots  Mem
}

func (g group) slot(i int) Mem { return g.slots.Offset(32 * (i % 4)) }

// setup maps the round keys by P into rkY and the counter's high words
// into hiY.
func (k *aesniKernel) setup(hi Register) {
	for i := range 4 {
		v := YMM()
		VMOVDQU(Mem{Base: k.rk}.Offset(32*i), v)
		k.mapBytes(v, &k.c.key)
		VMOVDQU(v, k.rkY.Offset(32*i))
	}
	x := XMM()
	VMOVQ(hi, x)
	k.mapBytes(x, &k.c.in)
	VMOVQ(x, k.hiY)
}

// operand returns the constant at m for work on registers of the given
// size: its register (or that register's low half) if the batch holds it,
// else its memory. The constants repeat every 16 bytes.
func (k *aesniKernel) operand(m *Mem, size uint) Op {
	r, ok := k.held[m]
	switch {
	case !ok:
		return *m
	case size == 16:
		return r.AsX()
	}
	return r
}

// lookup sets dst to the table's entries picked by idx (VPSHUFB). VPSHUFB
// takes its table from a register only: a table the batch does not hold is
// loaded into scratch first.
func (k *aesniKernel) lookup(idx Register, tbl *Mem, dst, scratch Register) {
	if r, ok := k.operand(tbl, idx.Size()).(Register); ok {
		VPSHUFB(idx, r, dst)
		return
	}
	VMOVDQU(*tbl, scratch)
	VPSHUFB(idx, scratch, dst)
}

// mapBytes applies a byte map to every byte of v: two nibble lookups and
// a XOR.
func (k *aesniKernel) mapBytes(v VecVirtual, t *nibbleTables) {
	w := width(v.Size() / 16)
	h, s := w.vec(), w.vec()
	VPSRLW(U8(4), v, h)
	VPAND(k.operand(&k.c.mask, v.Size()), h, h)
	VPAND(k.operand(&k.c.mask, v.Size()), v, v)
	k.lookup(v, &t.lo, v, s)
	k.lookup(h, &t.hi, h, s)
	VPXOR(h, v, v)
}

// counters builds group i's counter blocks, word-sliced (see lanes.go for
// the lane order) and mapped into Y: words 0-2 into its slots, word 3 its
// newest. It advances lo past them.
func (k *aesniKernel) counters(w width, i int) group {
	gr, w2, w3 := counterWords(w, i, k.words, k.hiY, k.lo, k.c)
	k.mapBytes(w2, &k.c.in)
	VMOVDQU(w2, gr.slot(2))
	k.mapBytes(w3, &k.c.in)
	gr.newest = w3
	return gr
}

// groups encrypts g groups of counters and XORs them into src → dst,
// advancing src, dst and n, or (buffered) stores the keystream in the
// buffer after its pad.
func (k *aesniKernel) groups(w width, g int, buffered bool) {
	grs := make([]group, g)
	for i := range grs {
		grs[i] = k.counters(w, i)
	}
	// The round needs four temporaries next to the groups' newest words;
	// the other registers hold constants, the most used first.
	k.held = map[*Mem]VecVirtual{}
	free := 16 - g - 4
	for _, m := range []*Mem{&k.c.mask, &k.c.q.lo, &k.c.q.hi, &k.c.p.lo, &k.c.p.hi,
		&k.c.invShiftRows, &k.c.rotl8, &k.c.rotl16, &k.c.rotl24} {
		if len(k.held) == free {
			break
		}
		k.held[m] = w.vec()
		VMOVDQU(*m, k.held[m])
	}

	// Eight times four rounds: four bring every word back to its slot, and
	// the loop keeps the code small enough for the op cache.
	loop := label("rounds")
	rkp, cnt := GP64(), GP64()
	LEAQ(k.rkY, rkp)
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
	k.held = nil

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

// round is Y[r+4] = Y[r] ^ P·L(τ(X[r+1] ^ X[r+2] ^ X[r+3] ^ rk[r])) (see
// aesnisbox.go), r mod 4 given: Y[r+1] and Y[r+2] come from their slots,
// Y[r+3] is the newest and goes to its slot, Y[r] comes from its slot and
// Y[r+4] becomes the newest.
func (k *aesniKernel) round(gr *group, r int, rk Mem) {
	w, size := gr.w, gr.w.size()
	t := w.vec()
	VPBROADCASTD(rk, t)
	VPXOR(gr.slot(r+1), t, t)
	VPXOR(gr.slot(r+2), t, t)
	VPXOR(gr.newest, t, t)
	VMOVDQU(gr.newest, gr.slot(r+3))

	// SubBytes through AESENCLAST, lane by lane, its round key the mask
	// (which the tables take back out).
	VPSHUFB(k.operand(&k.c.invShiftRows, size), t, t)
	key := k.operand(&k.c.mask, 16)
	if w == xmmWidth {
		VAESENCLAST(key, t, t)
	} else {
		h := XMM()
		VEXTRACTI128(U8(1), t, h)
		VAESENCLAST(key, t.AsX(), t.AsX()) // zeroes the upper lane
		VAESENCLAST(key, h, h)
		VINSERTI128(U8(1), h, t, t)
	}

	// Y[r+4] = Y[r] ^ p ^ rotl8(q) ^ rotl16(q) ^ rotl24(p ^ q), p and q
	// the maps of u, in the newest's register (its value is in its slot).
	hi := w.vec()
	VPSRLW(U8(4), t, hi)
	VPAND(k.operand(&k.c.mask, size), hi, hi)
	VPAND(k.operand(&k.c.mask, size), t, t)
	x, y := w.vec(), w.vec()
	k.lookup(t, &k.c.q.lo, x, x)
	k.lookup(hi, &k.c.q.hi, y, y)
	VPXOR(y, x, x) // q
	k.lookup(t, &k.c.p.lo, t, y)
	k.lookup(hi, &k.c.p.hi, hi, y)
	VPXOR(hi, t, t) // p
	d := gr.newest
	VPXOR(gr.slot(r), t, d)
	VPXOR(x, t, t) // p ^ q
	VPSHUFB(k.operand(&k.c.rotl8, size), x, y)
	VPXOR(y, d, d)
	VPSHUFB(k.operand(&k.c.rotl16, size), x, x)
	VPXOR(x, d, d)
	VPSHUFB(k.operand(&k.c.rotl24, size), t, t)
	VPXOR(t, d, d)
}

// output maps group i's words (Y32..Y35) back to X and emits them as
// blocks (emitBlocks).
func (k *aesniKernel) output(gr group, i int, buffered bool) {
	w := [4]VecVirtual{gr.w.vec(), gr.w.vec(), gr.w.vec(), gr.newest}
	for j := range 3 {
		VMOVDQU(gr.slot(32+j), w[j])
	}
	for _, x := range w {
		k.mapBytes(x, &k.c.out)
	}
	k.emitBlocks(w, gr, i, buffered, k.c.bswap, k.buf)
}

// nibbleTables is a byte map's two VPSHUFB tables in memory.
type nibbleTables struct{ lo, hi Mem }

type aesniConsts struct {
	mask                         Mem // 0x0f in every byte
	in, key, out                 nibbleTables
	p, q                         nibbleTables
	invShiftRows                 Mem
	rotl8, rotl16, rotl24, bswap Mem
	offA, offB                   map[width]Mem // counter offsets of qa and qb's qwords
}

var acs *aesniConsts

func aesniConstants(s sboxAffine) *aesniConsts {
	if acs != nil {
		return acs
	}
	t := deriveAESNISbox(s)
	acs = &aesniConsts{offA: map[width]Mem{}, offB: map[width]Mem{}}
	// 32 bytes, the same 16 in both lanes: VPSHUFB works per lane.
	lanes := func(name string, b [16]byte) Mem {
		m := GLOBL(name, NOPTR|RODATA)
		for h := range 2 {
			for i := range 2 {
				var q uint64
				for j := 7; j >= 0; j-- {
					q = q<<8 | uint64(b[8*i+j])
				}
				DATA(16*h+8*i, U64(q))
			}
		}
		return m
	}
	tables := func(name string, n nibbles) nibbleTables {
		return nibbleTables{lanes(name+"Lo", n.lo), lanes(name+"Hi", n.hi)}
	}
	var mask [16]byte
	for i := range mask {
		mask[i] = 0x0f
	}
	if t.aesKey != mask[0] {
		panic("the tables expect another AESENCLAST round key than the mask")
	}
	acs.mask = lanes("aesniNibbleMask", mask)
	acs.in = tables("aesniIn", t.in)
	acs.key = tables("aesniKey", t.key)
	acs.out = tables("aesniOut", t.out)
	acs.p = tables("aesniP", t.pmap)
	acs.q = tables("aesniQ", t.qmap)
	acs.invShiftRows = lanes("aesniInvShiftRows", t.invShiftRows)
	acs.rotl8 = lanes("aesniRotl8", t.rotl8)
	acs.rotl16 = lanes("aesniRotl16", t.rotl16)
	acs.rotl24 = lanes("aesniRotl24", t.rotl24)
	acs.bswap = lanes("aesniBswap", t.bswap)
	for _, w := range []width{ymmWidth, xmmWidth} {
		offA, offB := laneOffsets(int(w))
		for _, o := range []struct {
			m    map[width]Mem
			name string
			off  []uint64
		}{{acs.offA, "aesniOffsetsA", offA}, {acs.offB, "aesniOffsetsB", offB}} {
			name := o.name
			if w == xmmWidth {
				name += "X"
			}
			o.m[w] = GLOBL(name, NOPTR|RODATA)
			for q, v := range o.off {
				DATA(8*q, U64(v))
			}
		}
	}
	return acs
}
