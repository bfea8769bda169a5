package ctr

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"slices"
	"testing"
)

// fuzzKernel checks kernel k against crypto/cipher.NewCTR for any key, IV,
// offset and length the fuzzer finds. Each kernel has its own target (see
// the per-architecture test files) so that a run spends all its time on one.
func fuzzKernel(f *testing.F, k impl) {
	f.Add(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{0xff}, 16), uint32(0), uint32(100))
	f.Add(bytes.Repeat([]byte{2}, 24), bytes.Repeat([]byte{0xfe}, 16), uint32(5), uint32(4096))
	f.Add(bytes.Repeat([]byte{3}, 32), append(bytes.Repeat([]byte{0}, 8), bytes.Repeat([]byte{0xff}, 8)...), uint32(4095), uint32(70000))
	f.Fuzz(func(t *testing.T, key, iv []byte, offset, length uint32) {
		if !slices.Contains(supportedImpls(), k) {
			t.Skipf("this CPU has no %v kernel", k)
		}
		if len(iv) != 16 || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
			return
		}
		off, n := int(offset%(1<<20)), int(length%(1<<17))
		c, err := newCipher(key, k)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := aes.NewCipher(key)
		want := make([]byte, off+n)
		cipher.NewCTR(b, iv).XORKeyStream(want, want)
		got := make([]byte, n)
		c.Keystream([16]byte(iv)).XORKeyStreamAt(got, got, uint64(off))
		if !bytes.Equal(got, want[off:]) {
			t.Fatalf("%v: key %d bytes, offset %d, length %d: keystream differs from crypto/cipher", k, len(key), off, n)
		}
	})
}

func FuzzGeneric(f *testing.F) { fuzzKernel(f, implGeneric) }
