package engine

import (
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// keysFS adapts a vfs.FS to the little the key registry needs.
type keysFS struct{ fs vfs.FS }

func (k keysFS) Open(name string) (io.ReadCloser, error) { return k.fs.Open(name) }

func (k keysFS) Create(name string) (keys.File, error) {
	return k.fs.Create(name, vfs.WriteCategoryUnspecified)
}

func (k keysFS) Rename(oldname, newname string) error { return k.fs.Rename(oldname, newname) }
func (k keysFS) Remove(name string) error             { return k.fs.Remove(name) }
func (k keysFS) PathJoin(elem ...string) string       { return k.fs.PathJoin(elem...) }

func (k keysFS) SyncDir(dir string) error { return syncDirectory(k.fs, dir) }

// keysFS returns the registry's filesystem: base, with files created mode
// 0600, exclusively and without following symlinks when base is the disk
// however wrapped (privateFS): under a plaintext master key the registry
// holds the data keys themselves.
func (f *FS) keysFS() keys.FS {
	return keysFS{privateFS(f.base)}
}
