package ctr

import (
	"crypto/aes"
	"crypto/cipher"
	"strconv"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"1KiB", 1 << 10}, {"4KiB", 4 << 10}, {"16KiB", 16 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

// BenchmarkCTR runs every kernel this CPU supports, the FIPS-mode path
// (impl=fips140: the module's CTR behind XORKeyStreamAt, a stream built per
// call) and crypto/cipher.NewCTR (impl=stdlib: one stream, used in order)
// side by side, named so that "benchstat -col /impl" puts them in columns.
func BenchmarkCTR(b *testing.B) {
	for _, bits := range []int{128, 192, 256} {
		key := make([]byte, bits/8)
		for _, sz := range benchSizes {
			prefix := "key=" + strconv.Itoa(bits) + "/size=" + sz.name + "/impl="
			buf := make([]byte, sz.n)
			b.Run(prefix+"stdlib", func(b *testing.B) {
				blk, _ := aes.NewCipher(key)
				s := cipher.NewCTR(blk, make([]byte, 16))
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					s.XORKeyStream(buf, buf)
				}
			})
			for _, k := range testImpls() {
				b.Run(prefix+k.String(), func(b *testing.B) {
					c, _ := newCipher(key, k)
					ks := c.Keystream([16]byte{})
					b.SetBytes(int64(sz.n))
					for b.Loop() {
						ks.XORKeyStreamAt(buf, buf, 0)
					}
				})
			}
		}
	}
}

// BenchmarkOffset compares an unaligned start with an aligned one on the
// default kernel and the FIPS-mode path: the unaligned call pays for one
// extra partial block, and a far offset (1 TiB) costs no more than a near
// one, as no skipped block is encrypted.
func BenchmarkOffset(b *testing.B) {
	for _, k := range []impl{defaultImpl, implFIPS} {
		c, _ := newCipher(make([]byte, 16), k)
		ks := c.Keystream([16]byte{})
		buf := make([]byte, 16<<10)
		for _, off := range []uint64{0, 4096, 7, 4099, 1 << 40} {
			b.Run("impl="+k.String()+"/offset="+strconv.FormatUint(off, 10), func(b *testing.B) {
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					ks.XORKeyStreamAt(buf, buf, off)
				}
			})
		}
	}
}

// BenchmarkStream64 is the drop-in path: a cipher.Stream fed 64-byte
// chunks, against crypto/cipher's.
func BenchmarkStream64(b *testing.B) {
	key, iv := make([]byte, 16), make([]byte, 16)
	buf := make([]byte, 64)
	b.Run("impl=stdlib", func(b *testing.B) {
		blk, _ := aes.NewCipher(key)
		s := cipher.NewCTR(blk, iv)
		b.SetBytes(64)
		for b.Loop() {
			s.XORKeyStream(buf, buf)
		}
	})
	b.Run("impl="+Backend(), func(b *testing.B) {
		s, _ := NewCTR(key, iv)
		b.SetBytes(64)
		for b.Loop() {
			s.XORKeyStream(buf, buf)
		}
	})
}
