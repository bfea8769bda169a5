//go:build unix

package ctrtest

import (
	"bytes"
	"syscall"
	"testing"
)

// NoReadPastBuffers puts the data against inaccessible pages on both sides:
// a kernel that touches a byte outside src or dst faults and the test
// crashes.
func NoReadPastBuffers(t *testing.T, s *Subject) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 4*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	// Pages 0 and 3 fenced off; 1 and 2 hold the data.
	for _, fence := range [][]byte{mem[:page], mem[3*page:]} {
		if err := syscall.Mprotect(fence, syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	data := mem[page : 3*page]
	for _, keyLen := range s.KeySizes {
		key := make([]byte, keyLen)
		want := s.Reference(t, key, [16]byte{}, 2*page+64)
		for _, k := range s.Kernels {
			ks := s.New(k, key, [16]byte{})
			for _, n := range []int{1, 5, 16, 33, 64, 100, 1000} {
				for off := range 17 {
					// At the start of the first data page, then at the end
					// of the last, in place.
					for _, at := range []int{0, len(data) - n} {
						b := data[at : at+n]
						clear(b)
						ks.XORKeyStreamAt(b, b, uint64(off))
						if !bytes.Equal(b, want[off:off+n]) {
							t.Fatalf("%s, %d-byte key: len %d offset %d at %d: wrong keystream", k, keyLen, n, off, at)
						}
					}
				}
			}
		}
	}
}
