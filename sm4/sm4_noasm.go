//go:build (!amd64 && !arm64) || purego

package sm4

// No assembly kernel yet: every Cipher runs the portable one.
var defaultImpl = implGeneric

func supportedImpls() []impl { return []impl{implGeneric} }

// xorAll reports false: the portable kernel works in whole blocks.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool { return false }

func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	xorBlocksGeneric(c.roundKeys(), dst, src, n, hi, lo)
}
