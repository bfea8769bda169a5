//go:build unix

package secmem

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// platform maps chunks with mmap, locks them with mlock and advises them
// out of core dumps where the OS has a way (noDump, per OS).
type platform struct{}

// chunkSize is 16 KiB (64 slots), or one page where pages are larger.
func (platform) chunkSize() int { return max(16<<10, unix.Getpagesize()) }

func (platform) mapChunk(size int) (mem []byte, lockErr, dumpErr, err error) {
	mem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("secmem: mmap of %d bytes: %w; key memory comes from the Go heap", size, err)
	}
	dumpErr = noDump(mem)
	if err := unix.Mlock(mem); err != nil {
		lockErr = fmt.Errorf("secmem: mlock of %d bytes: %w (raise RLIMIT_MEMLOCK, ulimit -l, or grant CAP_IPC_LOCK); key memory may be swapped out", size, err)
	}
	return mem, lockErr, dumpErr, nil
}
