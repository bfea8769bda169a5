// Command _asm generates sm4_amd64.s, the amd64 SM4-CTR kernels, with avo.
//
// Run it through "go generate" in the sm4 package; the committed assembly
// must be exactly what this program writes.
package main

import (
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	Package("github.com/tde-go/tde/sm4")
	ConstraintExpr("!purego")
	s := deriveSbox()
	gfniZMM(s)
	aesniAVX2(s)
	// gfniYMM reuses aesniAVX2's rotation, bswap and lane-offset tables
	// (and gfniZMM's pre-map): after them it adds only its three
	// post-maps.
	gfniYMM(s)
	Generate()
}
