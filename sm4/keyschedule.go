package sm4

import (
	"encoding/binary"
	"math/bits"
)

// roundKeys are the 32 round keys.
type roundKeys [32]uint32

// fk is the system parameter FK of GB/T 32907 section 7.3.
var fk = [4]uint32{0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc}

// ck returns the fixed parameter CK_i: byte j is (4i+j)*7 mod 256.
func ck(i int) uint32 {
	var w uint32
	for j := range 4 {
		w = w<<8 | uint32(byte((4*i+j)*7))
	}
	return w
}

// expandKey runs the key expansion of GB/T 32907 section 7.3. The S-box is
// computed, not looked up, so no key byte indexes a table.
func expandKey(rk *roundKeys, key *[KeySize]byte) {
	var k [4]uint32
	for i := range 4 {
		k[i] = binary.BigEndian.Uint32(key[4*i:]) ^ fk[i]
	}
	for i := range 32 {
		b := tauCT(k[1] ^ k[2] ^ k[3] ^ ck(i))
		next := k[0] ^ b ^ bits.RotateLeft32(b, 13) ^ bits.RotateLeft32(b, 23)
		rk[i] = next
		k[0], k[1], k[2], k[3] = k[1], k[2], k[3], next
	}
	clear(k[:])
}
