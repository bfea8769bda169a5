package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// encoding is how vector instructions are encoded, which decides what they
// may touch: legacy SSE faults on unaligned memory operands, VEX reaches
// only registers 0-15, EVEX all 32.
type encoding int

const (
	legacy encoding = iota // SSE: CPUs with AES-NI but no AVX (Westmere, Goldmont)
	vex                    // AVX2
	evex                   // AVX-512
)

// isa is one vector width and encoding.
type isa struct {
	name   string // kernel name suffix
	blocks int    // AES blocks per register: 1 (xmm), 2 (ymm) or 4 (zmm)
	batch  int    // registers in flight in the main loop
	enc    encoding
	vec    func() VecVirtual
}

var (
	aesni   = isa{name: "AESNI", blocks: 1, batch: 8, enc: legacy, vec: XMM}
	vaesYMM = isa{name: "VAESYMM", blocks: 2, batch: 8, enc: vex, vec: YMM}
	// vaesZMM loads each round key per group, as vaesYMM does, rather than
	// hold all of them in zmm16-31 for the call: VZEROUPPER does not
	// return those to their initial state, and a kernel that leaves them
	// in use costs the rest of the process (Pebble scans through the
	// engine measured about 1.5 points more overhead that way; the kernel
	// alone is up to 6% faster with the keys in registers, at 16 KiB and
	// up). It uses zmm0-15 only.
	vaesZMM = isa{name: "VAESZMM", blocks: 4, batch: 8, enc: evex, vec: ZMM}
)

// xmm is the same encoding on one block, for partial blocks and leftovers.
func (k isa) xmm() isa { return isa{blocks: 1, batch: 1, enc: k.enc, vec: XMM} }

// bcast loads a 16-byte value into every 128-bit lane of a register.
func (k isa) bcast(m Mem, x Register) {
	switch k.blocks {
	case 1:
		k.load(m, x)
	case 2:
		VBROADCASTI128(m, x)
	default:
		VBROADCASTI32X4(m, x)
	}
}

// load reads a whole register from memory, aligned or not.
func (k isa) load(m Mem, x Register) {
	switch k.enc {
	case legacy:
		MOVOU(m, x)
	case vex:
		VMOVDQU(m, x)
	default:
		VMOVDQU64(m, x)
	}
}

func (k isa) store(x Register, m Mem) {
	switch k.enc {
	case legacy:
		MOVOU(x, m)
	case vex:
		VMOVDQU(x, m)
	default:
		VMOVDQU64(x, m)
	}
}

// operand returns a that an instruction of this encoding may read: legacy
// SSE cannot take unaligned memory, so it is loaded into a register first.
func (k isa) operand(a Op) Op {
	if m, ok := a.(Mem); ok && k.enc == legacy {
		t := k.vec()
		MOVOU(m, t)
		return t
	}
	return a
}

// xor sets dst = a ^ b.
func (k isa) xor(a Op, b, dst Register) {
	switch k.enc {
	case legacy:
		a = k.operand(a)
		if dst != b {
			MOVO(b, dst)
		}
		PXOR(a, dst)
	case vex:
		VPXOR(a, b, dst)
	default:
		VPXORQ(a, b, dst)
	}
}

// and sets dst = a & dst.
func (k isa) and(a Op, dst Register) {
	switch k.enc {
	case legacy:
		PAND(k.operand(a), dst)
	case vex:
		VPAND(a, dst, dst)
	default:
		VPANDQ(a, dst, dst)
	}
}

// shuffle sets dst = the bytes of x picked by idx (PSHUFB).
func (k isa) shuffle(idx Op, x, dst Register) {
	if k.enc == legacy {
		idx = k.operand(idx)
		if dst != x {
			MOVO(x, dst)
		}
		PSHUFB(idx, dst)
		return
	}
	VPSHUFB(idx, x, dst)
}

func (k isa) add(a Op, dst Register) {
	if k.enc == legacy {
		PADDQ(k.operand(a), dst)
		return
	}
	VPADDQ(a, dst, dst)
}

func (k isa) aesenc(key Op, x Register) {
	if k.enc == legacy {
		AESENC(k.operand(key), x)
		return
	}
	VAESENC(key, x, x)
}

func (k isa) aesenclast(key Op, x Register) {
	if k.enc == legacy {
		AESENCLAST(k.operand(key), x)
		return
	}
	VAESENCLAST(key, x, x)
}
