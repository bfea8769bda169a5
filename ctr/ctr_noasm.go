//go:build (!amd64 && !arm64) || purego

package ctr

// Without assembly every Cipher runs the portable kernel.
var defaultImpl = implGeneric

func supportedImpls() []impl { return []impl{implGeneric} }

func subWord(w uint32) uint32 { return subWordGeneric(w) }

func (c *Cipher) xorBlocks(dst, src []byte, n int, hi, lo uint64) {
	xorBlocksGeneric(&c.schedule().rk, c.schedule().rounds, dst, src, n, hi, lo)
}

// xorAll reports false: every kernel here works in whole blocks.
func (c *Cipher) xorAll(dst, src []byte, skip int, hi, lo uint64) bool { return false }
