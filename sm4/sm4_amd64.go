//go:build !purego

package sm4

import (
	"os"

	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/cpu"

	"github.com/tde-go/tde/internal/ctrmode"
)

//go:generate sh -c "cd _asm && GOARCH=amd64 go run . -out ../sm4_amd64.s"

// The dispatch decision, made once. golang.org/x/sys/cpu reports GFNI only
// together with AVX-512, so GFNI with AVX2 alone (Alder Lake, Sierra
// Forest) is read from cpuid, which also checks that the OS saves the ymm
// state.
//
// DISABLE_GFNI=1 in the environment (the switch gmsm reads) leaves both
// GFNI kernels out of supportedImpls and so out of the default, so the
// AES-NI kernel can be run and benchmarked as the default on a machine with
// GFNI. It is read once, at package initialization.
var (
	disableGFNI = os.Getenv("DISABLE_GFNI") == "1"

	hasGFNIZMM = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
		cpu.X86.HasAVX512GFNI && !disableGFNI
	hasGFNIYMM   = cpu.X86.HasAVX2 && cpuid.CPU.Supports(cpuid.GFNI, cpuid.AVX2) && !disableGFNI
	hasAESNIAVX2 = cpu.X86.HasAES && cpu.X86.HasAVX2

	defaultImpl = supportedImpls()[len(supportedImpls())-1]
)

// supportedImpls lists the kernels this CPU can run, slowest first.
func supportedImpls() []impl {
	impls := []impl{implGeneric}
	if hasAESNIAVX2 {
		impls = append(impls, implAESNI)
	}
	if hasGFNIYMM {
		impls = append(impls, implGFNIYMM)
	}
	if hasGFNIZMM {
		impls = append(impls, implGFNIZMM)
	}
	return impls
}

// ctrGFNIZMM XORs n >= 16 bytes of src with the keystream from byte skip
// (< 16) of counter block hi||lo into dst, partial blocks at both ends
// included, 64 blocks in flight. The caller ensures the low 64 bits of the
// counter do not wrap across the blocks touched, and that dst and src are
// the same or disjoint.
//
//go:noescape
func ctrGFNIZMM(rk *roundKeys, dst, src *byte, n, skip int, hi, lo uint64)

// ctrAESNIAVX2 is ctrGFNIZMM on AES-NI and AVX2 (VEX, 16 ymm registers):
// the S-box through AESENCLAST, the affine maps around it and L done by
// byte shuffles of tables held in registers, 32 blocks in flight.
//
//go:noescape
func ctrAESNIAVX2(rk *roundKeys, dst, src *byte, n, skip int, hi, lo uint64)

// ctrGFNIYMM is ctrGFNIZMM on GFNI and AVX2 (VEX, 16 ymm registers): the
// S-box of ctrGFNIZMM, the rotations of L by byte shuffles and shifts, and
// the structure of ctrAESNIAVX2, 64 blocks in flight.
//
//go:noescape
func ctrGFNIYMM(rk *roundKeys, dst, src *byte, n, skip int, hi, lo uint64)

// xorAll does a whole XORKeyStreamAt call of at least one block in one
// kernel call, and reports whether it did. It declines for the portable
// kernel, and when the low 64 bits of the counter wrap inside the call.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool {
	if c.impl == implGeneric || ctrmode.Wraps(lo, uint64(skip+len(src)+BlockSize-1)/BlockSize) {
		return false
	}
	switch c.impl {
	case implAESNI:
		ctrAESNIAVX2(c.roundKeys(), &dst[0], &src[0], len(src), skip, hi, lo)
	case implGFNIYMM:
		ctrGFNIYMM(c.roundKeys(), &dst[0], &src[0], len(src), skip, hi, lo)
	case implGFNIZMM:
		ctrGFNIZMM(c.roundKeys(), &dst[0], &src[0], len(src), skip, hi, lo)
	default:
		panic("sm4: unknown kernel " + c.impl.String())
	}
	return true
}

// xorBlocks XORs n whole blocks; the run must not wrap (see xorSplit).
func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
	switch c.impl {
	case implGeneric:
		xorBlocksGeneric(c.roundKeys(), dst, src, n, hi, lo)
	case implAESNI:
		ctrAESNIAVX2(c.roundKeys(), &dst[0], &src[0], n*BlockSize, 0, hi, lo)
	case implGFNIYMM:
		ctrGFNIYMM(c.roundKeys(), &dst[0], &src[0], n*BlockSize, 0, hi, lo)
	case implGFNIZMM:
		ctrGFNIZMM(c.roundKeys(), &dst[0], &src[0], n*BlockSize, 0, hi, lo)
	default:
		panic("sm4: unknown kernel " + c.impl.String())
	}
}
