package bench

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// TestDropCached: after dropCached a synced file has no page in the page
// cache, and readThrough, which drops them first, leaves every page
// cached again.
func TestDropCached(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is on tmpfs, whose pages are the file: nothing to drop", dir)
	}
	name := filepath.Join(dir, "table")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := vfs.Default.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // clean, as Pebble leaves a table
		t.Fatal(err)
	}
	if n := residentPages(t, name); n == 0 {
		t.Fatalf("%s: no page cached just after writing it", name)
	}
	if err := dropCached(f); err != nil {
		t.Fatal(err)
	}
	if n := residentPages(t, name); n != 0 {
		t.Errorf("after dropCached, %d pages of %s are still cached", n, name)
	}
	if err := readThrough(vfs.Default, name, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if n, all := residentPages(t, name), len(data)/os.Getpagesize(); n != all {
		t.Errorf("after readThrough, %d of %d pages of %s are cached", n, all, name)
	}
}

// residentPages counts the pages of the file name in the page cache
// (mincore over a mapping of it).
func residentPages(t *testing.T, name string) int {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	// x/sys/unix has no Mincore for Linux.
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(os.NewSyscallError("mincore", errno))
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
