package bench

import (
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// dropCached asks the kernel to drop f's pages from the page cache, so
// the next read caches them afresh by readahead. Pages written by the
// process and cached as they were written read slower by a point or two,
// the earliest written the slowest, and keep that speed for as long as
// they stay cached (bench/README.md, "Where a store's speed came
// from"). Dirty pages stay: Pebble syncs a table before it uses it. A
// file with no descriptor (vfs.NewMem) is left alone.
func dropCached(f vfs.File) error {
	fd := f.Fd()
	if fd == vfs.InvalidFd {
		return nil
	}
	if err := unix.Fadvise(int(fd), 0, 0, unix.FADV_DONTNEED); err != nil {
		return os.NewSyscallError("fadvise", err)
	}
	return nil
}
