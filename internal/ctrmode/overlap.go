// Package ctrmode holds what the seekable CTR packages (ctr, sm4) share
// besides their kernels: argument checks, counter arithmetic and the
// cipher.Stream view. Kernel calls stay in each package, where escape
// analysis can see them and keep stack buffers on the stack.
package ctrmode

import "unsafe"

// Check panics, as crypto/cipher does, when dst is shorter than src or the
// two overlap at different offsets (an in-place XOR would read bytes it has
// already written). It returns dst cut to len(src).
func Check(pkg string, dst, src []byte) []byte {
	if len(dst) < len(src) {
		panic(pkg + ": output smaller than input")
	}
	dst = dst[:len(src)]
	if InexactOverlap(dst, src) {
		panic(pkg + ": invalid buffer overlap")
	}
	return dst
}

// InexactOverlap reports whether x and y share memory at different offsets.
func InexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}
