//go:build !linux

package engine

import (
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockFileShared takes Pebble's exclusive lock on the existing file name:
// outside Linux there is no shared lock that is safe in a process that
// may hold Pebble's own (closing a descriptor releases a record lock), so
// readers exclude each other, and the lock sets the file's mtime.
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
