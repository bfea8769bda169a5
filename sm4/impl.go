package sm4

// impl identifies a block kernel. Each Cipher records the one it runs, so
// tests can build ciphers on every kernel the CPU supports side by side.
type impl uint8

const (
	implGeneric   impl = iota
	implAESNI          // amd64: S-box through AESENCLAST with affine maps, AVX2
	implGFNIYMM        // amd64: GFNI + AVX2
	implGFNIZMM        // amd64: GFNI + AVX-512
	implARM64NEON      // arm64: NEON, S-box by TBL
	implARM64SM4E      // arm64: the SM4E instruction (ARMv8.2 SM4)
)

func (k impl) String() string {
	switch k {
	case implAESNI:
		return "aesni-avx2"
	case implGFNIYMM:
		return "gfni-ymm"
	case implGFNIZMM:
		return "gfni-zmm"
	case implARM64NEON:
		return "arm64-neon"
	case implARM64SM4E:
		return "arm64-sm4e"
	}
	return "generic"
}
