package ctr

import (
	"encoding/binary"

	"github.com/tde-go/tde/internal/ctrmode"
)

// The portable kernel. It is the Go twin of every assembly kernel and the
// only one where no AES instructions exist (or with the purego tag). Like
// the standard library's portable AES it uses lookup tables for speed, so it
// is not constant time; the assembly kernels are.

// sbox and the four T-tables are derived once from sboxCT, so no constant
// here is copied from anywhere.
var sbox, te0, te1, te2, te3 = makeTables()

func makeTables() (s [256]byte, t0, t1, t2, t3 [256]uint32) {
	for i := range 256 {
		v := sboxCT(byte(i))
		s[i] = v
		w := uint32(xtime(v))<<24 | uint32(v)<<16 | uint32(v)<<8 | uint32(xtime(v)^v)
		t0[i] = w
		t1[i] = w>>8 | w<<24
		t2[i] = w>>16 | w<<16
		t3[i] = w>>24 | w<<8
	}
	return
}

// gfMul multiplies in GF(2^8) in constant time.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		a = xtime(a)
		b >>= 1
	}
	return p
}

// sboxCT is the AES S-box computed from its definition (FIPS 197 5.1.1):
// the multiplicative inverse, x^254, then the affine map. It takes the same
// time for every input.
func sboxCT(x byte) byte {
	x2 := gfMul(x, x)
	x3 := gfMul(x2, x)
	x6 := gfMul(x3, x3)
	x12 := gfMul(x6, x6)
	x15 := gfMul(x12, x3)
	x30 := gfMul(x15, x15)
	x60 := gfMul(x30, x30)
	x120 := gfMul(x60, x60)
	x126 := gfMul(x120, x6)
	x252 := gfMul(x126, x126)
	b := gfMul(x252, x2) // x^254 = x^-1, and 0 for 0
	return b ^ rotl8(b, 1) ^ rotl8(b, 2) ^ rotl8(b, 3) ^ rotl8(b, 4) ^ 0x63
}

func rotl8(b byte, n uint) byte { return b<<n | b>>(8-n) }

// subWordGeneric applies the S-box to each byte of w in constant time.
func subWordGeneric(w uint32) uint32 {
	return uint32(sboxCT(byte(w>>24)))<<24 | uint32(sboxCT(byte(w>>16)))<<16 |
		uint32(sboxCT(byte(w>>8)))<<8 | uint32(sboxCT(byte(w)))
}

// xorBlocksGeneric XORs n whole blocks of src with the keystream from
// counter (hi, lo) into dst. Each block of src is read before the same
// block of dst is written, so dst and src may be the same buffer.
func xorBlocksGeneric(rk *roundKeys, rounds int, dst, src []byte, n int, hi, lo uint64) {
	_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
	for i := range n {
		var ks [BlockSize]byte
		bh, bl := ctrmode.Add128(hi, lo, uint64(i))
		encryptBlockGeneric(rk, rounds, &ks, bh, bl)
		d, s := dst[i*BlockSize:(i+1)*BlockSize], src[i*BlockSize:(i+1)*BlockSize]
		binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^binary.LittleEndian.Uint64(ks[0:]))
		binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^binary.LittleEndian.Uint64(ks[8:]))
	}
}

// encryptBlockGeneric encrypts the counter block (hi, lo) into out.
func encryptBlockGeneric(rk *roundKeys, rounds int, out *[BlockSize]byte, hi, lo uint64) {
	k := func(r, j int) uint32 { return binary.BigEndian.Uint32(rk[16*r+4*j:]) }
	s0 := uint32(hi>>32) ^ k(0, 0)
	s1 := uint32(hi) ^ k(0, 1)
	s2 := uint32(lo>>32) ^ k(0, 2)
	s3 := uint32(lo) ^ k(0, 3)
	for r := 1; r < rounds; r++ {
		t0 := te0[s0>>24] ^ te1[s1>>16&0xff] ^ te2[s2>>8&0xff] ^ te3[s3&0xff] ^ k(r, 0)
		t1 := te0[s1>>24] ^ te1[s2>>16&0xff] ^ te2[s3>>8&0xff] ^ te3[s0&0xff] ^ k(r, 1)
		t2 := te0[s2>>24] ^ te1[s3>>16&0xff] ^ te2[s0>>8&0xff] ^ te3[s1&0xff] ^ k(r, 2)
		t3 := te0[s3>>24] ^ te1[s0>>16&0xff] ^ te2[s1>>8&0xff] ^ te3[s2&0xff] ^ k(r, 3)
		s0, s1, s2, s3 = t0, t1, t2, t3
	}
	last := func(a, b, c, d uint32) uint32 {
		return uint32(sbox[a>>24])<<24 | uint32(sbox[b>>16&0xff])<<16 | uint32(sbox[c>>8&0xff])<<8 | uint32(sbox[d&0xff])
	}
	binary.BigEndian.PutUint32(out[0:], last(s0, s1, s2, s3)^k(rounds, 0))
	binary.BigEndian.PutUint32(out[4:], last(s1, s2, s3, s0)^k(rounds, 1))
	binary.BigEndian.PutUint32(out[8:], last(s2, s3, s0, s1)^k(rounds, 2))
	binary.BigEndian.PutUint32(out[12:], last(s3, s0, s1, s2)^k(rounds, 3))
}
