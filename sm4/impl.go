package sm4

// impl identifies a block kernel. Each Cipher records the one it runs, so
// tests can build ciphers on every kernel the CPU supports side by side.
type impl uint8

const (
	implGeneric impl = iota
)

func (k impl) String() string {
	return "generic"
}
