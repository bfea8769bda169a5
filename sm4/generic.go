package sm4

import (
	"encoding/binary"
	"math/bits"

	"github.com/tde-go/tde/internal/ctrmode"
)

// The portable kernel: the Go twin of every assembly kernel and the only
// one where none applies (or with the purego tag). Like gmsm's and the
// standard library's portable ciphers it uses lookup tables for speed, so
// it is not constant time; the assembly kernels are.

// t0..t3 fold τ and the linear map L of the round function: T(x) =
// t0[x>>24] ^ t1[x>>16&0xff] ^ t2[x>>8&0xff] ^ t3[x&0xff]. They are derived
// from sboxCT once.
var t0, t1, t2, t3 = makeTables()

func makeTables() (a, b, c, d [256]uint32) {
	for i := range 256 {
		s := uint32(sboxCT(byte(i)))
		a[i] = l(s << 24)
		b[i] = l(s << 16)
		c[i] = l(s << 8)
		d[i] = l(s)
	}
	return
}

// l is the linear map L of the round function.
func l(b uint32) uint32 {
	return b ^ bits.RotateLeft32(b, 2) ^ bits.RotateLeft32(b, 10) ^ bits.RotateLeft32(b, 18) ^ bits.RotateLeft32(b, 24)
}

func roundT(x uint32) uint32 {
	return t0[x>>24] ^ t1[x>>16&0xff] ^ t2[x>>8&0xff] ^ t3[x&0xff]
}

// encryptBlockGeneric encrypts the counter block hi||lo into out.
func encryptBlockGeneric(rk *roundKeys, out *[BlockSize]byte, hi, lo uint64) {
	x0, x1, x2, x3 := uint32(hi>>32), uint32(hi), uint32(lo>>32), uint32(lo)
	for i := 0; i < 32; i += 4 {
		x0 ^= roundT(x1 ^ x2 ^ x3 ^ rk[i])
		x1 ^= roundT(x2 ^ x3 ^ x0 ^ rk[i+1])
		x2 ^= roundT(x3 ^ x0 ^ x1 ^ rk[i+2])
		x3 ^= roundT(x0 ^ x1 ^ x2 ^ rk[i+3])
	}
	// The output is the last four words in reverse order.
	binary.BigEndian.PutUint32(out[0:], x3)
	binary.BigEndian.PutUint32(out[4:], x2)
	binary.BigEndian.PutUint32(out[8:], x1)
	binary.BigEndian.PutUint32(out[12:], x0)
}

// xorBlocksGeneric XORs n whole blocks of src with the keystream from
// counter hi||lo into dst; each block of src is read before the same block
// of dst is written, so they may be the same buffer.
func xorBlocksGeneric(rk *roundKeys, dst, src []byte, n int, hi, lo uint64) {
	_, _ = dst[n*BlockSize-1], src[n*BlockSize-1]
	for i := range n {
		var ks [BlockSize]byte
		bh, bl := ctrmode.Add128(hi, lo, uint64(i))
		encryptBlockGeneric(rk, &ks, bh, bl)
		d, s := dst[i*BlockSize:(i+1)*BlockSize], src[i*BlockSize:(i+1)*BlockSize]
		binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^binary.LittleEndian.Uint64(ks[0:]))
		binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^binary.LittleEndian.Uint64(ks[8:]))
	}
}
