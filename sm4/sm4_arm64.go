//go:build !purego

package sm4

import "golang.org/x/sys/cpu"

// defaultImpl is the kernel NewCipher picks: the SM4E instruction when the
// CPU has it, NEON (ASIMD, which every arm64 Linux CPU has) otherwise.
var defaultImpl = func() impl {
	switch {
	case cpu.ARM64.HasSM4:
		return implARM64SM4E
	case cpu.ARM64.HasASIMD:
		return implARM64NEON
	}
	return implGeneric
}()

// supportedImpls lists the portable kernel first, then every kernel this CPU
// runs, slowest first.
func supportedImpls() []impl {
	impls := []impl{implGeneric}
	if cpu.ARM64.HasASIMD {
		impls = append(impls, implARM64NEON)
	}
	if cpu.ARM64.HasSM4 {
		impls = append(impls, implARM64SM4E)
	}
	return impls
}

// sboxTable is the S-box as a table for the NEON kernel, which holds it in
// 16 vector registers and looks it up with TBL/TBX: a register lookup, so
// no memory access depends on the data. Built once from sboxCT; never
// written after.
var sboxTable = func() (t [256]byte) {
	for i := range t {
		t[i] = sboxCT(byte(i))
	}
	return
}()

// xorAll reports false: the arm64 kernels work in whole blocks.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool { return false }

// xorBlocks calls the kernel directly, not through a func value, so that
// escape analysis sees the //go:noescape declarations and the callers'
// stack buffers stay on the stack.
func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	switch c.impl {
	case implARM64SM4E:
		_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
		ctrBlocksSM4E(c.roundKeys(), &dst[0], &src[0], n, hi, lo)
	case implARM64NEON:
		_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
		ctrBlocksNEON(c.roundKeys(), &dst[0], &src[0], n, hi, lo, &sboxTable)
	default:
		xorBlocksGeneric(c.roundKeys(), dst, src, n, hi, lo)
	}
}

// ctrBlocksSM4E XORs n >= 1 whole blocks of src with the keystream from
// counter (hi, lo) into dst, with the SM4E instruction, 8 blocks in flight.
// It never carries from lo into hi: the caller cuts runs at the 2^64
// boundary. It keeps no pointer, hence noescape.
//
//go:noescape
func ctrBlocksSM4E(rk *roundKeys, dst, src *byte, n int, hi, lo uint64)

// ctrBlocksNEON is ctrBlocksSM4E with NEON only: 8 blocks word-sliced
// across vector lanes, the S-box by TBL/TBX over sbox held in registers.
//
//go:noescape
func ctrBlocksNEON(rk *roundKeys, dst, src *byte, n int, hi, lo uint64, sbox *[256]byte)
