//go:build unix

package ctr

import (
	"bytes"
	"syscall"
	"testing"
)

// TestNoReadPastBuffers puts src and dst against inaccessible pages on both
// sides: a kernel that touches a byte outside them (a masked-off byte of a
// partial block included) faults and the test crashes.
func TestNoReadPastBuffers(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 4*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	// Pages 0 and 3 fenced off; 1 and 2 hold the data.
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[3*page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	data := mem[page : 3*page]
	for _, keyLen := range []int{16, 24, 32} {
		key := make([]byte, keyLen)
		want := stdKeystream(t, key, [16]byte{}, 2*page+64)
		for _, k := range supportedImpls() {
			c, _ := newCipher(key, k)
			ks := c.Keystream([16]byte{})
			for _, n := range []int{1, 5, 16, 33, 64, 100, 1000} {
				for off := range 17 {
					// At the start of the first data page, then at the end of
					// the last, in place.
					for _, at := range []int{0, len(data) - n} {
						b := data[at : at+n]
						clear(b)
						ks.XORKeyStreamAt(b, b, uint64(off))
						if !bytes.Equal(b, want[off:off+n]) {
							t.Fatalf("%v AES-%d: len %d offset %d at %d: wrong keystream", k, 8*keyLen, n, off, at)
						}
					}
				}
			}
		}
	}
}
