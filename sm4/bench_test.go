package sm4

import (
	"crypto/cipher"
	"testing"

	gmsm "github.com/emmansun/gmsm/sm4"
)

var benchSizes = []struct {
	name string
	n    int
}{
	// 16-256 bytes: calls of 1 to 16 blocks, where a kernel built for
	// batches pays for its latency rather than its throughput.
	{"16B", 16}, {"32B", 32}, {"48B", 48}, {"64B", 64}, {"128B", 128}, {"256B", 256},
	{"1KiB", 1 << 10}, {"4KiB", 4 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20},
}

// BenchmarkCTR runs every kernel this CPU supports, by XORKeyStreamAt and
// through the Stream view, and gmsm's SM4 under crypto/cipher.NewCTR side
// by side; "benchstat -col /impl" puts them in columns.
func BenchmarkCTR(b *testing.B) {
	key := make([]byte, 16)
	for _, sz := range benchSizes {
		prefix := "size=" + sz.name + "/impl="
		buf := make([]byte, sz.n)
		b.Run(prefix+"gmsm", func(b *testing.B) {
			blk, _ := gmsm.NewCipher(key)
			s := cipher.NewCTR(blk, make([]byte, 16))
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				s.XORKeyStream(buf, buf)
			}
		})
		for _, k := range supportedImpls() {
			b.Run(prefix+k.String(), func(b *testing.B) {
				c, _ := newCipher(key, k)
				ks := c.Keystream([16]byte{})
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					ks.XORKeyStreamAt(buf, buf, 0)
				}
			})
			// The cipher.Stream view, which gmsm's row is: it makes its
			// keystream ahead for small calls.
			b.Run(prefix+k.String()+"+stream", func(b *testing.B) {
				c, _ := newCipher(key, k)
				s := c.Keystream([16]byte{}).Stream(0)
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					s.XORKeyStream(buf, buf)
				}
			})
		}
	}
}

// BenchmarkOffset compares an unaligned start with an aligned one on the
// default kernel.
func BenchmarkOffset(b *testing.B) {
	c, _ := NewCipher(make([]byte, 16))
	ks := c.Keystream([16]byte{})
	buf := make([]byte, 16<<10)
	for _, off := range []uint64{0, 7} {
		b.Run("offset="+map[uint64]string{0: "0", 7: "7"}[off], func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				ks.XORKeyStreamAt(buf, buf, off)
			}
		})
	}
}
