package ctr

import "encoding/binary"

// roundKeys holds up to 15 round keys (AES-256), each 16 bytes in the byte
// order of FIPS 197: the layout AESENC and AESE read straight from memory.
type roundKeys [15 * BlockSize]byte

// expandKey runs the FIPS 197 key expansion (section 5.2) into rk and
// returns the number of rounds. SubWord goes through subWord, which uses the
// AES instructions where the CPU has them, so no key byte ever indexes a
// table on those machines.
func expandKey(rk *roundKeys, key []byte) int {
	nk := len(key) / 4
	rounds := nk + 6
	var w [4 * 15]uint32
	for i := 0; i < nk; i++ {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(0x01)
	for i := nk; i < 4*(rounds+1); i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon = uint32(xtime(byte(rcon)))
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i := 0; i < 4*(rounds+1); i++ {
		binary.BigEndian.PutUint32(rk[4*i:], w[i])
	}
	clear(w[:])
	return rounds
}

// xtime multiplies by x in GF(2^8) modulo x^8+x^4+x^3+x+1, in constant time.
func xtime(b byte) byte {
	return b<<1 ^ 0x1b&-(b>>7)
}
