//go:build !purego

#include "textflag.h"

// The ARMv8 AES kernel. Hand-written: avo generates amd64 only.
//
// Register use in ctrBlocksARM64:
//
//	V0-V7    the states of up to 8 blocks in flight
//	V8-V22   the round keys, loaded once; the last round key is always in
//	         V22, so AES-256 uses V8-V22, AES-192 V10-V22, AES-128 V12-V22
//	V23-V30  the source blocks, XORed with the last round key while the
//	         rounds run, then with the states
//	V31      the counter template: big-endian hi in the low 64-bit lane
//
// AESE Vk, Vs is AddRoundKey(k), SubBytes and ShiftRows; AESMC Vs, Vs is
// MixColumns. Each AESE is followed by the AESMC on the same register so
// that cores which fuse the pair can. Rounds interleave the blocks, so 8
// independent chains fill the AES pipeline. No table is read and the only
// branches depend on nr and n, which are public.

#define NR R0
#define RK R1
#define DST R2
#define SRC R3
#define N R4
#define HI R5
#define LO R6

// One full round (AESE+AESMC) with round key K on 8, 4, 2 or 1 states.
#define ROUND1(K) \
	AESE  K.B16, V0.B16; AESMC V0.B16, V0.B16

#define ROUND2(K) \
	ROUND1(K); \
	AESE  K.B16, V1.B16; AESMC V1.B16, V1.B16

#define ROUND4(K) \
	ROUND2(K); \
	AESE  K.B16, V2.B16; AESMC V2.B16, V2.B16; \
	AESE  K.B16, V3.B16; AESMC V3.B16, V3.B16

#define ROUND8(K) \
	ROUND4(K); \
	AESE  K.B16, V4.B16; AESMC V4.B16, V4.B16; \
	AESE  K.B16, V5.B16; AESMC V5.B16, V5.B16; \
	AESE  K.B16, V6.B16; AESMC V6.B16, V6.B16; \
	AESE  K.B16, V7.B16; AESMC V7.B16, V7.B16

// The last AESE, without MixColumns. The last AddRoundKey was folded into
// the source blocks.
#define LAST1(K) \
	AESE K.B16, V0.B16

#define LAST2(K) \
	LAST1(K); \
	AESE K.B16, V1.B16

#define LAST4(K) \
	LAST2(K); \
	AESE K.B16, V2.B16; \
	AESE K.B16, V3.B16

#define LAST8(K) \
	LAST4(K); \
	AESE K.B16, V4.B16; \
	AESE K.B16, V5.B16; \
	AESE K.B16, V6.B16; \
	AESE K.B16, V7.B16

// The rounds common to every key size: keys V12-V21, V22 folded into src.
#define ROUNDS128(ROUND, LAST) \
	ROUND(V12); ROUND(V13); ROUND(V14); ROUND(V15); ROUND(V16); \
	ROUND(V17); ROUND(V18); ROUND(V19); ROUND(V20); LAST(V21)

// Counter block V = template V31 with big-endian (LO+off) in the high
// lane. T is a scratch register.
#define CTR(off, T, V) \
	ADD   $off, LO, T; \
	REV   T, T; \
	VMOV  V31.B16, V.B16; \
	VMOV  T, V.D[1]

// CTR(0, T, V) without the ADD.
#define CTR0(T, V) \
	REV   LO, T; \
	VMOV  V31.B16, V.B16; \
	VMOV  T, V.D[1]

// func ctrBlocksARM64(nr int, rk *roundKeys, dst, src *byte, n int, hi, lo uint64)
TEXT ·ctrBlocksARM64(SB), NOSPLIT, $0-56
	MOVD nr+0(FP), NR
	MOVD rk+8(FP), RK
	MOVD dst+16(FP), DST
	MOVD src+24(FP), SRC
	MOVD n+32(FP), N
	MOVD hi+40(FP), HI
	MOVD lo+48(FP), LO

	REV  HI, HI
	VDUP HI, V31.D2

	// Round keys, once. AES-128 skips V8-V11, AES-192 V8-V9.
	CMP $12, NR
	BLT loadkeys128
	BEQ loadkeys192
	VLD1.P 32(RK), [V8.B16, V9.B16]

loadkeys192:
	VLD1.P 32(RK), [V10.B16, V11.B16]

loadkeys128:
	VLD1.P 64(RK), [V12.B16, V13.B16, V14.B16, V15.B16]
	VLD1.P 64(RK), [V16.B16, V17.B16, V18.B16, V19.B16]
	VLD1   (RK), [V20.B16, V21.B16, V22.B16]

	CMP $8, N
	BLT tail4

loop8:
	CTR0(R7, V0)
	CTR(1, R8, V1)
	CTR(2, R9, V2)
	CTR(3, R10, V3)
	CTR(4, R11, V4)
	CTR(5, R12, V5)
	CTR(6, R13, V6)
	CTR(7, R14, V7)
	ADD $8, LO

	VLD1.P 64(SRC), [V23.B16, V24.B16, V25.B16, V26.B16]
	VLD1.P 64(SRC), [V27.B16, V28.B16, V29.B16, V30.B16]
	VEOR   V22.B16, V23.B16, V23.B16
	VEOR   V22.B16, V24.B16, V24.B16
	VEOR   V22.B16, V25.B16, V25.B16
	VEOR   V22.B16, V26.B16, V26.B16
	VEOR   V22.B16, V27.B16, V27.B16
	VEOR   V22.B16, V28.B16, V28.B16
	VEOR   V22.B16, V29.B16, V29.B16
	VEOR   V22.B16, V30.B16, V30.B16

	CMP $12, NR
	BLT enc8_128
	BEQ enc8_192
	ROUND8(V8)
	ROUND8(V9)

enc8_192:
	ROUND8(V10)
	ROUND8(V11)

enc8_128:
	ROUNDS128(ROUND8, LAST8)

	VEOR   V0.B16, V23.B16, V23.B16
	VEOR   V1.B16, V24.B16, V24.B16
	VEOR   V2.B16, V25.B16, V25.B16
	VEOR   V3.B16, V26.B16, V26.B16
	VEOR   V4.B16, V27.B16, V27.B16
	VEOR   V5.B16, V28.B16, V28.B16
	VEOR   V6.B16, V29.B16, V29.B16
	VEOR   V7.B16, V30.B16, V30.B16
	VST1.P [V23.B16, V24.B16, V25.B16, V26.B16], 64(DST)
	VST1.P [V27.B16, V28.B16, V29.B16, V30.B16], 64(DST)

	SUB $8, N
	CMP $8, N
	BGE loop8

	// Fewer than 8 blocks are left: one step per set bit of N.
tail4:
	TBZ $2, N, tail2
	CTR0(R7, V0)
	CTR(1, R8, V1)
	CTR(2, R9, V2)
	CTR(3, R10, V3)
	ADD $4, LO

	VLD1.P 64(SRC), [V23.B16, V24.B16, V25.B16, V26.B16]
	VEOR   V22.B16, V23.B16, V23.B16
	VEOR   V22.B16, V24.B16, V24.B16
	VEOR   V22.B16, V25.B16, V25.B16
	VEOR   V22.B16, V26.B16, V26.B16

	CMP $12, NR
	BLT enc4_128
	BEQ enc4_192
	ROUND4(V8)
	ROUND4(V9)

enc4_192:
	ROUND4(V10)
	ROUND4(V11)

enc4_128:
	ROUNDS128(ROUND4, LAST4)

	VEOR   V0.B16, V23.B16, V23.B16
	VEOR   V1.B16, V24.B16, V24.B16
	VEOR   V2.B16, V25.B16, V25.B16
	VEOR   V3.B16, V26.B16, V26.B16
	VST1.P [V23.B16, V24.B16, V25.B16, V26.B16], 64(DST)

tail2:
	TBZ $1, N, tail1
	CTR0(R7, V0)
	CTR(1, R8, V1)
	ADD $2, LO

	VLD1.P 32(SRC), [V23.B16, V24.B16]
	VEOR   V22.B16, V23.B16, V23.B16
	VEOR   V22.B16, V24.B16, V24.B16

	CMP $12, NR
	BLT enc2_128
	BEQ enc2_192
	ROUND2(V8)
	ROUND2(V9)

enc2_192:
	ROUND2(V10)
	ROUND2(V11)

enc2_128:
	ROUNDS128(ROUND2, LAST2)

	VEOR   V0.B16, V23.B16, V23.B16
	VEOR   V1.B16, V24.B16, V24.B16
	VST1.P [V23.B16, V24.B16], 32(DST)

tail1:
	TBZ $0, N, done
	CTR0(R7, V0)

	VLD1 (SRC), [V23.B16]
	VEOR V22.B16, V23.B16, V23.B16

	CMP $12, NR
	BLT enc1_128
	BEQ enc1_192
	ROUND1(V8)
	ROUND1(V9)

enc1_192:
	ROUND1(V10)
	ROUND1(V11)

enc1_128:
	ROUNDS128(ROUND1, LAST1)

	VEOR V0.B16, V23.B16, V23.B16
	VST1 [V23.B16], (DST)

done:
	RET

// func subWordARM64(w uint32) uint32
//
// With w in all four columns, ShiftRows moves nothing, so AESE with a zero
// round key leaves SubBytes(w) in every column.
TEXT ·subWordARM64(SB), NOSPLIT, $0-12
	MOVWU w+0(FP), R0
	VDUP  R0, V0.S4
	VEOR  V1.B16, V1.B16, V1.B16
	AESE  V1.B16, V0.B16
	VMOV  V0.S[0], R0
	MOVW  R0, ret+8(FP)
	RET
