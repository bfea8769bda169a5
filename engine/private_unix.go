//go:build unix

package engine

import (
	"os"
	"syscall"
)

// sameFile reports whether a and b describe the same file (device and
// inode); true if either does not say.
func sameFile(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return true
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
