//go:build !purego

package ctr

import "golang.org/x/sys/cpu"

// defaultImpl is the kernel NewCipher picks: the ARMv8 AES instructions when
// the CPU has them, the portable Go otherwise.
var defaultImpl = func() impl {
	if cpu.ARM64.HasAES {
		return implARM64
	}
	return implGeneric
}()

func supportedImpls() []impl {
	if cpu.ARM64.HasAES {
		return []impl{implGeneric, implARM64}
	}
	return []impl{implGeneric}
}

func subWord(w uint32) uint32 {
	if cpu.ARM64.HasAES {
		return subWordARM64(w)
	}
	return subWordGeneric(w)
}

// xorBlocks calls the kernel directly, not through a func value, so that
// escape analysis sees the //go:noescape declaration and the callers'
// stack buffers stay on the stack.
func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	switch c.impl {
	case implARM64:
		_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
		ctrBlocksARM64(c.schedule().rounds, &c.schedule().rk, &dst[0], &src[0], n, hi, lo)
	default:
		xorBlocksGeneric(&c.schedule().rk, c.schedule().rounds, dst, src, n, hi, lo)
	}
}

// ctrBlocksARM64 XORs n >= 1 whole blocks of src with the keystream from
// counter (hi, lo) into dst, with the ARMv8 AES instructions, 8 blocks in
// flight. rk holds nr+1 round keys. It never carries from lo into hi: the
// caller cuts runs at the 2^64 boundary. It keeps no pointer, hence
// noescape.
//
//go:noescape
func ctrBlocksARM64(nr int, rk *roundKeys, dst, src *byte, n int, hi, lo uint64)

// subWordARM64 is SubWord by AESE, so the key schedule reads no table.
//
//go:noescape
func subWordARM64(w uint32) uint32

// xorAll reports false: every kernel here works in whole blocks.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool { return false }
