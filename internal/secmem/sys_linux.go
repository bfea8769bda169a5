//go:build linux

package secmem

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// noDump leaves mem out of core dumps, and out of a forked child (where
// the kernel has MADV_WIPEONFORK, 4.14 and later; older kernels only miss
// that part, which Go's fork-then-exec does not need).
func noDump(mem []byte) error {
	if err := unix.Madvise(mem, unix.MADV_DONTDUMP); err != nil {
		return fmt.Errorf("secmem: madvise(MADV_DONTDUMP): %w; key memory may be in a core dump", err)
	}
	_ = unix.Madvise(mem, unix.MADV_WIPEONFORK)
	return nil
}
