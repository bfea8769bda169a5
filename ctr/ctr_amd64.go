//go:build !purego

package ctr

import (
	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/cpu"
)

//go:generate sh -c "cd _asm && GOARCH=amd64 go run . -out ../ctr_amd64.s"

// The dispatch decision, made once. golang.org/x/sys/cpu reports VAES only
// together with AVX-512, so VAES on AVX2 alone (Zen 3, Alder Lake) is read
// from cpuid, which also checks that the OS saves the ymm state.
var (
	hasAESNI   = cpu.X86.HasAES && cpu.X86.HasSSSE3 && cpu.X86.HasSSE41
	hasVAESYMM = hasAESNI && cpu.X86.HasAVX2 && cpuid.CPU.Supports(cpuid.VAES, cpuid.AVX2)
	hasVAESZMM = hasAESNI && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW &&
		cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VAES

	defaultImpl = supportedImpls()[len(supportedImpls())-1]
)

// supportedImpls lists the kernels this CPU can run, slowest first.
func supportedImpls() []impl {
	impls := []impl{implGeneric}
	if hasAESNI {
		impls = append(impls, implAESNI)
	}
	if hasVAESYMM {
		impls = append(impls, implVAESYMM)
	}
	if hasVAESZMM {
		impls = append(impls, implVAESZMM)
	}
	return impls
}

// The kernels XOR n >= 1 whole blocks of src with the keystream from
// counter hi||lo into dst. The caller ensures lo+n-1 does not wrap, and that
// dst and src are the same or disjoint.

//go:noescape
func ctrBlocksAESNI(nr int, rk *roundKeys, dst, src *byte, n int, hi, lo uint64)

//go:noescape
func ctrBlocksVAESYMM(nr int, rk *roundKeys, dst, src *byte, n int, hi, lo uint64)

//go:noescape
func ctrBlocksVAESZMM(nr int, rk *roundKeys, dst, src *byte, n int, hi, lo uint64)

func subWordAESNI(w uint32) uint32

func subWord(w uint32) uint32 {
	if hasAESNI {
		return subWordAESNI(w)
	}
	return subWordGeneric(w)
}

func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
	s := c.ks
	switch c.impl {
	case implVAESZMM:
		ctrBlocksVAESZMM(s.rounds, &s.rk, &dst[0], &src[0], n, hi, lo)
	case implVAESYMM:
		ctrBlocksVAESYMM(s.rounds, &s.rk, &dst[0], &src[0], n, hi, lo)
	case implAESNI:
		ctrBlocksAESNI(s.rounds, &s.rk, &dst[0], &src[0], n, hi, lo)
	default:
		xorBlocksGeneric(&s.rk, s.rounds, dst, src, n, hi, lo)
	}
}
