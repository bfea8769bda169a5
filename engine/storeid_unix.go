//go:build unix

package engine

import (
	"os"
	"syscall"
)

// inodeOf returns the device and inode of the file fi describes, if the FS
// that made fi passed the operating system's stat through.
func inodeOf(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st == nil {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true
}
