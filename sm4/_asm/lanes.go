package main

import "fmt"

// The AES-NI kernel's lane bookkeeping, worked out by simulating the
// instructions rather than by hand.
//
// A group is 4 blocks per 128-bit lane (8 in a ymm, 4 in an xmm),
// word-sliced: dword k of the register for word j is word j of one block.
// The counters' low words come from two registers of 64-bit counters, qa
// and qb, split into high and low dwords by VSHUFPS $0xDD and $0x88, which
// work per 128-bit lane h:
//
//	dword 4h+p:  p = 0, 1 ← qa qword 2h+p;  p = 2, 3 ← qb qword 2h+p-2
//
// At the end a 4x4 dword transpose in each 128-bit lane (VPUNPCK{L,H}DQ,
// then VPUNPCK{L,H}QDQ) gives registers o0..o3 of whole blocks, o_j
// holding dword j of each lane h in its lane h, stored at 16·lanes·j. So
// memory block m = lanes·j + h comes from dword 4h+j: for a ymm, dword k
// holds block 2·(k mod 4) + k/4, and the offsets added to the counter are
//
//	ymm: qa [0, 2, 1, 3], qb [4, 6, 5, 7]    xmm: qa [0, 1], qb [2, 3]
//
// which laneOffsets derives and checks end to end.

// dwords is a vector register as dwords, lane 0 first.
type dwords []uint32

// perLane applies f to each 128-bit lane; a is the first source operand in
// Intel order (the last but one in Go assembly).
func perLane(a, b dwords, f func(a, b [4]uint32) [4]uint32) dwords {
	out := make(dwords, len(a))
	for h := 0; h < len(a); h += 4 {
		r := f([4]uint32(a[h:]), [4]uint32(b[h:]))
		copy(out[h:], r[:])
	}
	return out
}

func shufps(imm byte) func(a, b [4]uint32) [4]uint32 {
	return func(a, b [4]uint32) [4]uint32 {
		return [4]uint32{a[imm&3], a[imm>>2&3], b[imm>>4&3], b[imm>>6&3]}
	}
}

func unpckldq(a, b [4]uint32) [4]uint32  { return [4]uint32{a[0], b[0], a[1], b[1]} }
func unpckhdq(a, b [4]uint32) [4]uint32  { return [4]uint32{a[2], b[2], a[3], b[3]} }
func unpcklqdq(a, b [4]uint32) [4]uint32 { return [4]uint32{a[0], a[1], b[0], b[1]} }
func unpckhqdq(a, b [4]uint32) [4]uint32 { return [4]uint32{a[2], a[3], b[2], b[3]} }

// The VSHUFPS selectors: dwords 0 and 2 (the low halves of the qwords) of
// each source, or dwords 1 and 3 (the high halves).
const (
	shufLowDwords  = 0x88
	shufHighDwords = 0xdd
)

// transposeSim is the kernel's output transpose (aesniKernel.output): the
// word registers w[0..3] in, the dwords it stores (o0..o3, in that order)
// out.
func transposeSim(w [4]dwords) []uint32 {
	a, b, c, d := w[3], w[2], w[1], w[0]
	t0, t1 := perLane(a, b, unpckldq), perLane(a, b, unpckhdq)
	t2, t3 := perLane(c, d, unpckldq), perLane(c, d, unpckhdq)
	var mem []uint32
	for _, o := range []dwords{perLane(t0, t2, unpcklqdq), perLane(t0, t2, unpckhqdq), perLane(t1, t3, unpcklqdq), perLane(t1, t3, unpckhqdq)} {
		mem = append(mem, o...)
	}
	return mem
}

// splitSim is the kernel's counter split: the high and low dwords of the
// qwords of qa and qb, as words 2 and 3.
func splitSim(qa, qb []uint64) (w2, w3 dwords) {
	var a, b dwords
	for q := range qa {
		a = append(a, uint32(qa[q]), uint32(qa[q]>>32))
		b = append(b, uint32(qb[q]), uint32(qb[q]>>32))
	}
	return perLane(a, b, shufps(shufHighDwords)), perLane(a, b, shufps(shufLowDwords))
}

// laneOffsets returns, for registers of the given number of 128-bit lanes,
// the block offsets to add to the counter's low 64 bits in each qword of qa
// and qb.
func laneOffsets(lanes int) (offA, offB []uint64) {
	blocks := 4 * lanes
	// Which dword each memory block comes from: tag every dword with its
	// register and position and transpose.
	var w [4]dwords
	for j := range w {
		for k := range blocks {
			w[j] = append(w[j], uint32(blocks*j+k))
		}
	}
	mem := transposeSim(w)
	laneOfBlock := make([]int, blocks)
	for m := range blocks {
		// The output block is X35 || X34 || X33 || X32: dword e of the
		// block is word register 3-e, all four from one position.
		k := int(mem[4*m]) % blocks
		for e := range 4 {
			if mem[4*m+e] != uint32(blocks*(3-e)+k) {
				panic(fmt.Sprintf("transpose: block %d dword %d is %d", m, e, mem[4*m+e]))
			}
		}
		laneOfBlock[m] = k
	}
	// Which dword each qword feeds: tag the qwords and split.
	tagA, tagB := make([]uint64, 2*lanes), make([]uint64, 2*lanes)
	for q := range tagA {
		tagA[q] = uint64(q)<<32 | uint64(q)
		tagB[q] = uint64(len(tagA)+q)<<32 | uint64(len(tagA)+q)
	}
	w2, w3 := splitSim(tagA, tagB)
	offA, offB = make([]uint64, len(tagA)), make([]uint64, len(tagB))
	for m, k := range laneOfBlock {
		if w2[k] != w3[k] {
			panic("split: a dword's high and low halves come from different qwords")
		}
		if q := int(w3[k]); q < len(offA) {
			offA[q] = uint64(m)
		} else {
			offB[q-len(offA)] = uint64(m)
		}
	}

	// End to end: counters hi||lo+offset, split and transposed, must come
	// out as blocks lo+0, lo+1, ... in memory order, here across a carry
	// out of the low dword.
	hi, lo := uint64(0x0123456789abcdef), uint64(0x00000001fffffffb)
	qa, qb := make([]uint64, len(offA)), make([]uint64, len(offB))
	for q := range qa {
		qa[q], qb[q] = lo+offA[q], lo+offB[q]
	}
	var c [4]dwords
	for range blocks {
		c[0], c[1] = append(c[0], uint32(hi>>32)), append(c[1], uint32(hi))
	}
	c[2], c[3] = splitSim(qa, qb)
	mem = transposeSim(c)
	for m := range blocks {
		gotLo := uint64(mem[4*m+1])<<32 | uint64(mem[4*m])
		gotHi := uint64(mem[4*m+3])<<32 | uint64(mem[4*m+2])
		if gotLo != lo+uint64(m) || gotHi != hi {
			panic(fmt.Sprintf("lane offsets: memory block %d is counter %x%x", m, gotHi, gotLo))
		}
	}
	return offA, offB
}
