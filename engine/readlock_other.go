//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package engine

import (
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockFileShared takes Pebble's exclusive lock on the existing file name:
// there is no shared lock here, and the lock may set the file's mtime.
func lockFileShared(name string) (io.Closer, error) {
	if _, err := os.Stat(name); err != nil {
		return nil, err
	}
	l, err := vfs.Default.Lock(name)
	if err != nil {
		if _, ok := err.(*os.PathError); ok {
			return nil, err
		}
		return nil, &lockHeldError{name: name, err: err}
	}
	return l, nil
}
