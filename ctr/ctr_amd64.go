//go:build !purego

package ctr

import (
	"github.com/tde-go/tde/internal/ctrmode"

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

// The kernels XOR n >= 16 bytes of src with the keystream from byte skip
// (< 16) of counter block hi||lo into dst, partial blocks at both ends
// included. The caller ensures the low 64 bits of the counter do not wrap
// across the blocks touched, and that dst and src are the same or disjoint.

//go:noescape
func ctrAESNI(nr int, rk *roundKeys, dst, src *byte, n, skip int, hi, lo uint64)

//go:noescape
func ctrVAESYMM(nr int, rk *roundKeys, dst, src *byte, n, skip int, hi, lo uint64)

//go:noescape
func ctrVAESZMM(nr int, rk *roundKeys, dst, src *byte, n, skip int, hi, lo uint64)

func subWordAESNI(w uint32) uint32

func subWord(w uint32) uint32 {
	if hasAESNI {
		return subWordAESNI(w)
	}
	return subWordGeneric(w)
}

// xorAll does a whole XORKeyStreamAt call of at least one block in one
// kernel call, and reports whether it did. It declines for the portable
// kernel, and when the low 64 bits of the counter wrap inside the call.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool {
	if c.impl == implGeneric {
		return false
	}
	if ctrmode.Wraps(lo, uint64(skip+len(src)+BlockSize-1)/BlockSize) {
		return false
	}
	c.kernel(&dst[0], &src[0], len(src), skip, hi, lo)
	return true
}

// xorBlocks XORs n whole blocks; the kernels' run must not wrap (see xorSplit).
func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
	if c.impl == implGeneric {
		xorBlocksGeneric(&c.schedule().rk, c.schedule().rounds, dst, src, n, hi, lo)
		return
	}
	c.kernel(&dst[0], &src[0], n*BlockSize, 0, hi, lo)
}

func (c *Cipher) kernel(dst, src *byte, n, skip int, hi, lo uint64) {
	s := c.schedule()
	switch c.impl {
	case implVAESZMM:
		ctrVAESZMM(s.rounds, &s.rk, dst, src, n, skip, hi, lo)
	case implVAESYMM:
		ctrVAESYMM(s.rounds, &s.rk, dst, src, n, skip, hi, lo)
	default:
		ctrAESNI(s.rounds, &s.rk, dst, src, n, skip, hi, lo)
	}
}
