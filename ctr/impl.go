package ctr

// impl identifies a block kernel. Each Cipher records the one it runs, so
// tests can build ciphers on every kernel the CPU supports side by side.
type impl uint8

const (
	implGeneric impl = iota
	implAESNI
	implVAESYMM
	implVAESZMM
	implARM64
	implFIPS // crypto/aes and crypto/cipher: the Go Cryptographic Module (fips.go)
)

func (k impl) String() string {
	switch k {
	case implAESNI:
		return "aesni"
	case implVAESYMM:
		return "vaes-ymm"
	case implVAESZMM:
		return "vaes-zmm"
	case implARM64:
		return "arm64-aes"
	case implFIPS:
		return fipsBackend
	}
	return "generic"
}
