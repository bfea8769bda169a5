package ctr

import "testing"

// TestWritesStayInDst checks that no kernel writes outside dst: the byte
// kernel's masked stores start before dst when the offset is unaligned and
// run past its end on a partial tail.
func TestWritesStayInDst(t *testing.T) {
	const guard = 64
	src := make([]byte, 1100)
	for i := range src {
		src[i] = byte(i * 7)
	}
	buf := make([]byte, guard+len(src)+guard)
	for _, k := range supportedImpls() {
		c, _ := newCipher(make([]byte, 16), k)
		ks := c.Keystream([16]byte{15: 0xf0})
		for _, n := range []int{1, 2, 15, 16, 17, 63, 64, 65, 100, 511, 512, 513, 1000, 1100} {
			for off := range 17 {
				for i := range buf {
					buf[i] = 0xa5
				}
				dst := buf[guard : guard+n]
				ks.XORKeyStreamAt(dst, src[:n], uint64(off))
				if !allGuard(buf[:guard]) || !allGuard(buf[guard+n:]) {
					t.Fatalf("%v: len %d offset %d wrote outside dst", k, n, off)
				}
			}
		}
	}
}

func allGuard(b []byte) bool {
	for _, x := range b {
		if x != 0xa5 {
			return false
		}
	}
	return true
}
