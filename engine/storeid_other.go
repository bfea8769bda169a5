//go:build !unix

package engine

import "os"

// inodeOf reports no inode here: a store is identified by its FS and its
// absolute path.
func inodeOf(os.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
