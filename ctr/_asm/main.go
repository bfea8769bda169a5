// Command _asm generates ctr_amd64.s, the amd64 AES-CTR kernels, with avo.
//
// Run it through "go generate" in the ctr package; the committed assembly
// must be exactly what this program writes.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

func main() {
	Package("github.com/tde-go/tde/ctr")
	ConstraintExpr("!purego")

	subWord()
	kernel(aesni)
	kernel(vaesYMM)
	kernel(vaesZMM)

	Generate()
}

// subWord implements subWordAESNI: the S-box on each byte of a word.
// AESENCLAST with a zero round key computes SubBytes(ShiftRows(state)); with
// the word in all four columns ShiftRows moves nothing, so the key schedule
// needs no lookup table.
func subWord() {
	Implement("subWordAESNI")
	w := Load(Param("w"), GP32())
	x, zero := XMM(), XMM()
	MOVD(w, x)
	PSHUFD(Imm(0), x, x)
	PXOR(zero, zero)
	AESENCLAST(zero, x)
	MOVD(x, w)
	Store(w, ReturnIndex(0))
	RET()
}
