//go:build !purego

package sm4

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && GOARCH=amd64 go run . -out ../sm4_amd64.s"

// The dispatch decision, made once.
var (
	hasGFNIZMM = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
		cpu.X86.HasAVX512GFNI

	defaultImpl = supportedImpls()[len(supportedImpls())-1]
)

// supportedImpls lists the kernels this CPU can run, slowest first.
func supportedImpls() []impl {
	impls := []impl{implGeneric}
	if hasGFNIZMM {
		impls = append(impls, implGFNIZMM)
	}
	return impls
}

// ctrBlocksGFNIZMM XORs n >= 1 whole blocks of src with the keystream from
// counter hi||lo into dst, 64 blocks in flight. The caller ensures lo+n-1
// does not wrap and that dst and src are the same or disjoint.
//
//go:noescape
func ctrBlocksGFNIZMM(rk *roundKeys, dst, src *byte, n int, hi, lo uint64)

// xorAll reports false: the kernels work in whole blocks and the driver
// handles partial ones.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool { return false }

func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
	switch c.impl {
	case implGFNIZMM:
		ctrBlocksGFNIZMM(c.roundKeys(), &dst[0], &src[0], n, hi, lo)
	default:
		xorBlocksGeneric(c.roundKeys(), dst, src, n, hi, lo)
	}
}
