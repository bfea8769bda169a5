//go:build !purego

package sm4

// No arm64 kernel yet.
var defaultImpl = implGeneric

func supportedImpls() []impl { return []impl{implGeneric} }

func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool { return false }

func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	xorBlocksGeneric(c.roundKeys(), dst, src, n, hi, lo)
}
