package ctr

import (
	"syscall"
	"testing"
)

// BenchmarkAfterSyscall prices a call as the engine makes it: through an
// interface, on a block of about Pebble's size, right after a system call
// (the engine decrypts what pread just returned). Where the kernel runs
// with PTI and no PCID, as on many VMs, every system call empties the
// TLB, and the call's first touch of each page (the keystream, the
// Cipher, the round keys, the kernel's code) costs a page walk. impl=none
// is the system call and the touch of the block alone, to subtract; the
// difference is what a read through the engine pays for the cipher.
func BenchmarkAfterSyscall(b *testing.B) {
	c, _ := NewCipher(make([]byte, 16))
	// In the engine the Cipher is made when its key is loaded and the
	// file's boxed keystream when the file opens, far apart on the heap:
	// box enough keystreams that the one used is pages away from c.
	type keystream interface {
		XORKeyStreamAt(dst, src []byte, offset uint64)
	}
	boxes := make([]keystream, 1000)
	for i := range boxes {
		boxes[i] = c.Keystream([16]byte{})
	}
	ks := boxes[len(boxes)-1]
	buf := make([]byte, 2200)
	touch := func() {
		syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		for i := 0; i < len(buf); i += 64 {
			buf[i]++
		}
	}
	b.Run("impl=none", func(b *testing.B) {
		for b.Loop() {
			touch()
		}
	})
	b.Run("impl="+Backend(), func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			touch()
			ks.XORKeyStreamAt(buf, buf, 4096)
		}
	})
}
