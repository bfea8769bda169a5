//go:build !purego

#include "textflag.h"

// The arm64 SM4-CTR kernels. Hand-written: avo generates amd64 only.
//
// Both produce, for block i of a call, src_i XOR E(counter_i) with
// counter_i = hi || lo+i (big-endian words X0..X3) and E's output the words
// X35, X34, X33, X32, big-endian. The caller never lets lo+i carry into hi.
// No table in memory is indexed by data and the only branches depend on n,
// which is public.

#define RK R0
#define DST R1
#define SRC R2
#define N R3
#define HI R4
#define LO R5

// ---------------------------------------------------------------------------
// ctrBlocksSM4E: the ARMv8.2 SM4 instruction.
//
// SM4E Vd.4S, Vn.4S runs 4 rounds on the block in Vd, its words X_i..X_i+3
// as native uint32s in lanes 0..3, with round keys rk[i..i+3] in the lanes
// of Vn; afterwards Vd holds X_i+4..X_i+7. Go's assembler has no mnemonic
// for it: the encoding is 1100 1110 1100 0000 1000 01 Rn Rd (checked
// against llvm-mc -mattr=+sm4).
//
// Register use:
//
//	V0-V7    the states of up to 8 blocks in flight
//	V8-V15   the 32 round keys, 4 a register, loaded once
//	V16-V23  the source blocks
//	V30      the index that reverses the 16 bytes of a register (TBL)
//	V31      the counter template: (hi>>32, uint32(hi)) in lanes 0 and 1
//
// The counter block's words are big-endian in memory but wanted native in
// the lanes: 64-bit lane 0 is hi rotated by 32 (X0 = hi>>32 in lane 0, X1 =
// uint32(hi) in lane 1), 64-bit lane 1 is lo+i rotated by 32. After 32
// rounds the lanes hold X32, X33, X34, X35; the output block, BE(X35) ..
// BE(X32), is the register with its 16 bytes reversed.

#define SM4E(n, d) WORD $(0xcec08400 | (n)<<5 | (d))

// 4 rounds, with the keys in V(k), on 8, 4, 2 or 1 states. The 8 chains are
// independent, so they hide the instruction's latency.
#define SM4E1(k) \
	SM4E(k, 0)

#define SM4E2(k) \
	SM4E1(k); \
	SM4E(k, 1)

#define SM4E4(k) \
	SM4E2(k); \
	SM4E(k, 2); \
	SM4E(k, 3)

#define SM4E8(k) \
	SM4E4(k); \
	SM4E(k, 4); \
	SM4E(k, 5); \
	SM4E(k, 6); \
	SM4E(k, 7)

// All 32 rounds.
#define SM4E32(S) \
	S(8); S(9); S(10); S(11); S(12); S(13); S(14); S(15)

// Counter block V = template V31 with lo+off, rotated by 32, in the high
// 64-bit lane. T is a scratch register.
#define CTR(off, T, V) \
	ADD  $off, LO, T; \
	ROR  $32, T, T; \
	VMOV V31.B16, V.B16; \
	VMOV T, V.D[1]

// CTR(0, T, V) without the ADD.
#define CTR0(T, V) \
	ROR  $32, LO, T; \
	VMOV V31.B16, V.B16; \
	VMOV T, V.D[1]

// Keystream block V, byte-reversed into place, XORed into source block S.
#define OUT(V, S) \
	VTBL V30.B16, [V.B16], V.B16; \
	VEOR V.B16, S.B16, S.B16

// func ctrBlocksSM4E(rk *roundKeys, dst, src *byte, n int, hi, lo uint64)
TEXT ·ctrBlocksSM4E(SB), NOSPLIT, $0-48
	MOVD rk+0(FP), RK
	MOVD dst+8(FP), DST
	MOVD src+16(FP), SRC
	MOVD n+24(FP), N
	MOVD hi+32(FP), HI
	MOVD lo+40(FP), LO

	// Round keys, once: V8 holds rk[0..3], ..., V15 rk[28..31].
	VLD1.P 64(RK), [V8.S4, V9.S4, V10.S4, V11.S4]
	VLD1   (RK), [V12.S4, V13.S4, V14.S4, V15.S4]

	ROR  $32, HI, HI
	VDUP HI, V31.D2

	// Byte j of V30 is 15-j.
	MOVD $0x08090a0b0c0d0e0f, R6
	MOVD $0x0001020304050607, R7
	VMOV R6, V30.D[0]
	VMOV R7, V30.D[1]

	CMP $8, N
	BLT sm4eTail4

sm4eLoop8:
	CTR0(R6, V0)
	CTR(1, R7, V1)
	CTR(2, R8, V2)
	CTR(3, R9, V3)
	CTR(4, R10, V4)
	CTR(5, R11, V5)
	CTR(6, R12, V6)
	CTR(7, R13, V7)
	ADD $8, LO

	SM4E32(SM4E8)

	VLD1.P 64(SRC), [V16.B16, V17.B16, V18.B16, V19.B16]
	VLD1.P 64(SRC), [V20.B16, V21.B16, V22.B16, V23.B16]
	OUT(V0, V16)
	OUT(V1, V17)
	OUT(V2, V18)
	OUT(V3, V19)
	OUT(V4, V20)
	OUT(V5, V21)
	OUT(V6, V22)
	OUT(V7, V23)
	VST1.P [V16.B16, V17.B16, V18.B16, V19.B16], 64(DST)
	VST1.P [V20.B16, V21.B16, V22.B16, V23.B16], 64(DST)

	SUB $8, N
	CMP $8, N
	BGE sm4eLoop8

	// Fewer than 8 blocks are left: one step per set bit of N.
sm4eTail4:
	TBZ $2, N, sm4eTail2
	CTR0(R6, V0)
	CTR(1, R7, V1)
	CTR(2, R8, V2)
	CTR(3, R9, V3)
	ADD $4, LO

	SM4E32(SM4E4)

	VLD1.P 64(SRC), [V16.B16, V17.B16, V18.B16, V19.B16]
	OUT(V0, V16)
	OUT(V1, V17)
	OUT(V2, V18)
	OUT(V3, V19)
	VST1.P [V16.B16, V17.B16, V18.B16, V19.B16], 64(DST)

sm4eTail2:
	TBZ $1, N, sm4eTail1
	CTR0(R6, V0)
	CTR(1, R7, V1)
	ADD $2, LO

	SM4E32(SM4E2)

	VLD1.P 32(SRC), [V16.B16, V17.B16]
	OUT(V0, V16)
	OUT(V1, V17)
	VST1.P [V16.B16, V17.B16], 32(DST)

sm4eTail1:
	TBZ $0, N, sm4eDone
	CTR0(R6, V0)

	SM4E32(SM4E1)

	VLD1 (SRC), [V16.B16]
	OUT(V0, V16)
	VST1 [V16.B16], (DST)

sm4eDone:
	RET

// ---------------------------------------------------------------------------
// ctrBlocksNEON: ASIMD only.
//
// Word-sliced: a group of 4 blocks is 4 registers, register j holding word
// X_j of the 4 blocks in its 4 lanes, so each vector instruction works on 4
// blocks at once; two groups (8 blocks) are in flight. A round of a group
// is
//
//	x = s1 ^ s2 ^ s3 ^ rk;  b = S(x) bytewise;  s0 ^= L(b)
//
// with L(b) = b ^ rol(b,2) ^ rol(b,10) ^ rol(b,18) ^ rol(b,24)
//           = b ^ rol(b,24) ^ rol(b ^ rol(b,8) ^ rol(b,16), 2)
//
// and the register roles rotate by one each round, so after 32 rounds s0..s3
// hold X32..X35 in the registers that held X0..X3. s3 is the word the
// previous round wrote, so x takes it last: one EOR waits on it, not three.
// rol(b,16) is REV32 on halfwords, the other rotates SHL then SRI; the
// longest path through L is the rol by 8, two EORs and the rol by 2.
//
// The S-box is 4 lookups of 64 bytes each: TBL into the first quarter of
// the table, then after subtracting 64 from the indices TBX into the next
// (an index out of a lookup's range leaves the byte alone; earlier quarters
// have wrapped to 192 and above). Every lookup reads registers, never
// memory.
//
// Register use:
//
//	V0-V3    group A: X_j of blocks 0-3
//	V4-V7    group B: X_j of blocks 4-7
//	V8       the round key, in every lane
//	V9       64 in every byte
//	V10-V12  group A scratch: x, b, y
//	V13-V15  group B scratch: x, b, y
//	V16-V31  the S-box table
//
// The counter words need no transpose: X0 and X1 are the two halves of hi
// in every lane, X2 and X3 the halves of lo+i, split out of 64-bit lanes by
// UZP2 and UZP1. The output needs one: a 4x4 transpose of 32-bit words by
// ZIP, then REV32 to make the words big-endian.

#define HIH R6
#define SBOX R7
#define RKP R8
#define CNT R9

// One round on groups A (a0..a3) and B (b0..b3), the instructions of the
// two interleaved. The round key comes from RKP, which moves on.
#define ROUND8(a0, a1, a2, a3, b0, b1, b2, b3) \
	VLD1R.P 4(RKP), [V8.S4]; \
	VEOR    a1.B16, a2.B16, V10.B16; \
	VEOR    b1.B16, b2.B16, V13.B16; \
	VEOR    V8.B16, V10.B16, V10.B16; \
	VEOR    V8.B16, V13.B16, V13.B16; \
	VEOR    a3.B16, V10.B16, V10.B16; \
	VEOR    b3.B16, V13.B16, V13.B16; \
	VTBL    V10.B16, [V16.B16, V17.B16, V18.B16, V19.B16], V11.B16; \
	VTBL    V13.B16, [V16.B16, V17.B16, V18.B16, V19.B16], V14.B16; \
	VSUB    V9.B16, V10.B16, V10.B16; \
	VSUB    V9.B16, V13.B16, V13.B16; \
	VTBX    V10.B16, [V20.B16, V21.B16, V22.B16, V23.B16], V11.B16; \
	VTBX    V13.B16, [V20.B16, V21.B16, V22.B16, V23.B16], V14.B16; \
	VSUB    V9.B16, V10.B16, V10.B16; \
	VSUB    V9.B16, V13.B16, V13.B16; \
	VTBX    V10.B16, [V24.B16, V25.B16, V26.B16, V27.B16], V11.B16; \
	VTBX    V13.B16, [V24.B16, V25.B16, V26.B16, V27.B16], V14.B16; \
	VSUB    V9.B16, V10.B16, V10.B16; \
	VSUB    V9.B16, V13.B16, V13.B16; \
	VTBX    V10.B16, [V28.B16, V29.B16, V30.B16, V31.B16], V11.B16; \
	VTBX    V13.B16, [V28.B16, V29.B16, V30.B16, V31.B16], V14.B16; \
	VEOR    V11.B16, a0.B16, a0.B16; \
	VEOR    V14.B16, b0.B16, b0.B16; \
	VSHL    $8, V11.S4, V10.S4; \
	VSHL    $8, V14.S4, V13.S4; \
	VREV32  V11.H8, V12.H8; \
	VREV32  V14.H8, V15.H8; \
	VSRI    $24, V11.S4, V10.S4; \
	VSRI    $24, V14.S4, V13.S4; \
	VEOR    V11.B16, V12.B16, V12.B16; \
	VEOR    V14.B16, V15.B16, V15.B16; \
	VEOR    V12.B16, V10.B16, V10.B16; \
	VEOR    V15.B16, V13.B16, V13.B16; \
	VSHL    $24, V11.S4, V12.S4; \
	VSHL    $24, V14.S4, V15.S4; \
	VSRI    $8, V11.S4, V12.S4; \
	VSRI    $8, V14.S4, V15.S4; \
	VEOR    V12.B16, a0.B16, a0.B16; \
	VEOR    V15.B16, b0.B16, b0.B16; \
	VSHL    $2, V10.S4, V12.S4; \
	VSHL    $2, V13.S4, V15.S4; \
	VSRI    $30, V10.S4, V12.S4; \
	VSRI    $30, V13.S4, V15.S4; \
	VEOR    V12.B16, a0.B16, a0.B16; \
	VEOR    V15.B16, b0.B16, b0.B16

// One round on group A alone.
#define ROUND4(a0, a1, a2, a3) \
	VLD1R.P 4(RKP), [V8.S4]; \
	VEOR    a1.B16, a2.B16, V10.B16; \
	VEOR    V8.B16, V10.B16, V10.B16; \
	VEOR    a3.B16, V10.B16, V10.B16; \
	VTBL    V10.B16, [V16.B16, V17.B16, V18.B16, V19.B16], V11.B16; \
	VSUB    V9.B16, V10.B16, V10.B16; \
	VTBX    V10.B16, [V20.B16, V21.B16, V22.B16, V23.B16], V11.B16; \
	VSUB    V9.B16, V10.B16, V10.B16; \
	VTBX    V10.B16, [V24.B16, V25.B16, V26.B16, V27.B16], V11.B16; \
	VSUB    V9.B16, V10.B16, V10.B16; \
	VTBX    V10.B16, [V28.B16, V29.B16, V30.B16, V31.B16], V11.B16; \
	VEOR    V11.B16, a0.B16, a0.B16; \
	VSHL    $8, V11.S4, V10.S4; \
	VREV32  V11.H8, V12.H8; \
	VSRI    $24, V11.S4, V10.S4; \
	VEOR    V11.B16, V12.B16, V12.B16; \
	VEOR    V12.B16, V10.B16, V10.B16; \
	VSHL    $24, V11.S4, V12.S4; \
	VSRI    $8, V11.S4, V12.S4; \
	VEOR    V12.B16, a0.B16, a0.B16; \
	VSHL    $2, V10.S4, V12.S4; \
	VSRI    $30, V10.S4, V12.S4; \
	VEOR    V12.B16, a0.B16, a0.B16

// Keystream blocks o0..o3 from a group's words a = X35, b = X34, c = X33,
// d = X32: o_k = BE(a_k) || BE(b_k) || BE(c_k) || BE(d_k). t0..t3 are
// scratch; the outputs may reuse the inputs.
#define TRANSPOSE(a, b, c, d, t0, t1, t2, t3, o0, o1, o2, o3) \
	VZIP1  b.S4, a.S4, t0.S4; \
	VZIP2  b.S4, a.S4, t1.S4; \
	VZIP1  d.S4, c.S4, t2.S4; \
	VZIP2  d.S4, c.S4, t3.S4; \
	VZIP1  t2.D2, t0.D2, o0.D2; \
	VZIP2  t2.D2, t0.D2, o1.D2; \
	VZIP1  t3.D2, t1.D2, o2.D2; \
	VZIP2  t3.D2, t1.D2, o3.D2; \
	VREV32 o0.B16, o0.B16; \
	VREV32 o1.B16, o1.B16; \
	VREV32 o2.B16, o2.B16; \
	VREV32 o3.B16, o3.B16

// XOR the next 4 source blocks with keystream V0-V3 into dst, through
// V12-V15.
#define XOR4 \
	VLD1.P 64(SRC), [V12.B16, V13.B16, V14.B16, V15.B16]; \
	VEOR   V0.B16, V12.B16, V12.B16; \
	VEOR   V1.B16, V13.B16, V13.B16; \
	VEOR   V2.B16, V14.B16, V14.B16; \
	VEOR   V3.B16, V15.B16, V15.B16; \
	VST1.P [V12.B16, V13.B16, V14.B16, V15.B16], 64(DST)

// func ctrBlocksNEON(rk *roundKeys, dst, src *byte, n int, hi, lo uint64, sbox *[256]byte)
TEXT ·ctrBlocksNEON(SB), NOSPLIT, $0-56
	MOVD rk+0(FP), RK
	MOVD dst+8(FP), DST
	MOVD src+16(FP), SRC
	MOVD n+24(FP), N
	MOVD hi+32(FP), HI
	MOVD lo+40(FP), LO
	MOVD sbox+48(FP), SBOX

	LSR $32, HI, HIH

	// The S-box, once.
	VLD1.P 64(SBOX), [V16.B16, V17.B16, V18.B16, V19.B16]
	VLD1.P 64(SBOX), [V20.B16, V21.B16, V22.B16, V23.B16]
	VLD1.P 64(SBOX), [V24.B16, V25.B16, V26.B16, V27.B16]
	VLD1   (SBOX), [V28.B16, V29.B16, V30.B16, V31.B16]

neonTop:
	// 1 <= N here.
	CMP $4, N
	BLE neonSingle

	// 8 blocks, or 5 to 7 with the last lanes of group B unused: lanes
	// past n compute a keystream nobody reads.
	ADD  $1, LO, R10
	ADD  $2, LO, R11
	ADD  $3, LO, R12
	ADD  $4, LO, R13
	ADD  $5, LO, R14
	ADD  $6, LO, R15
	ADD  $7, LO, R16
	VMOV LO, V8.D[0]
	VMOV R10, V8.D[1]
	VMOV R11, V9.D[0]
	VMOV R12, V9.D[1]
	VMOV R13, V10.D[0]
	VMOV R14, V10.D[1]
	VMOV R15, V11.D[0]
	VMOV R16, V11.D[1]
	ADD  $8, LO
	VDUP  HIH, V0.S4
	VDUP  HI, V1.S4
	VUZP2 V9.S4, V8.S4, V2.S4
	VUZP1 V9.S4, V8.S4, V3.S4
	VDUP  HIH, V4.S4
	VDUP  HI, V5.S4
	VUZP2 V11.S4, V10.S4, V6.S4
	VUZP1 V11.S4, V10.S4, V7.S4

	VMOVI $64, V9.B16
	MOVD  RK, RKP
	MOVD  $8, CNT

neonRounds8:
	ROUND8(V0, V1, V2, V3, V4, V5, V6, V7)
	ROUND8(V1, V2, V3, V0, V5, V6, V7, V4)
	ROUND8(V2, V3, V0, V1, V6, V7, V4, V5)
	ROUND8(V3, V0, V1, V2, V7, V4, V5, V6)
	SUBS $1, CNT
	BNE  neonRounds8

	TRANSPOSE(V3, V2, V1, V0, V8, V9, V10, V11, V0, V1, V2, V3)
	XOR4
	TRANSPOSE(V7, V6, V5, V4, V8, V9, V10, V11, V0, V1, V2, V3)
	SUB $4, N
	CMP $4, N
	BLT neonPartial
	XOR4
	SUBS $4, N
	BNE  neonTop
	RET

neonSingle:
	// 1 to 4 blocks: group A alone.
	ADD   $1, LO, R10
	ADD   $2, LO, R11
	ADD   $3, LO, R12
	VMOV  LO, V8.D[0]
	VMOV  R10, V8.D[1]
	VMOV  R11, V9.D[0]
	VMOV  R12, V9.D[1]
	VDUP  HIH, V0.S4
	VDUP  HI, V1.S4
	VUZP2 V9.S4, V8.S4, V2.S4
	VUZP1 V9.S4, V8.S4, V3.S4

	VMOVI $64, V9.B16
	MOVD  RK, RKP
	MOVD  $8, CNT

neonRounds4:
	ROUND4(V0, V1, V2, V3)
	ROUND4(V1, V2, V3, V0)
	ROUND4(V2, V3, V0, V1)
	ROUND4(V3, V0, V1, V2)
	SUBS $1, CNT
	BNE  neonRounds4

	TRANSPOSE(V3, V2, V1, V0, V8, V9, V10, V11, V0, V1, V2, V3)
	CMP $4, N
	BLT neonPartial
	XOR4
	RET

neonPartial:
	// 1 to 3 blocks left, their keystream in V0, V1, V2.
	VLD1.P 16(SRC), [V12.B16]
	VEOR   V0.B16, V12.B16, V12.B16
	VST1.P [V12.B16], 16(DST)
	CMP    $2, N
	BLT    neonDone
	VLD1.P 16(SRC), [V12.B16]
	VEOR   V1.B16, V12.B16, V12.B16
	VST1.P [V12.B16], 16(DST)
	CMP    $3, N
	BLT    neonDone
	VLD1   (SRC), [V12.B16]
	VEOR   V2.B16, V12.B16, V12.B16
	VST1   [V12.B16], (DST)

neonDone:
	RET
