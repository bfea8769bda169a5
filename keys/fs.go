package keys

import (
	"io"
	"os"
	"path/filepath"

	"github.com/tde-go/tde/internal/privfile"
)

// FS is the little of a filesystem the registry needs. The engine adapts
// Pebble's vfs.FS to it (Create takes a write category there, and SyncDir is
// OpenDir, Sync, Close); OSFS is the operating system's, for standalone use.
//
// The registry writes a file by Create, Write, Sync, Close, Rename over the
// old one, SyncDir: a crash at any point leaves the old file or the new one.
type FS interface {
	// Open opens name for reading. A missing file is an error matching
	// fs.ErrNotExist.
	Open(name string) (io.ReadCloser, error)
	// Create creates name for writing, replacing a file of that name.
	Create(name string) (File, error)
	// Rename atomically replaces newname by oldname.
	Rename(oldname, newname string) error
	// Remove removes name.
	Remove(name string) error
	// SyncDir makes the directory's entries (creations, renames) durable.
	SyncDir(dir string) error
	// PathJoin joins path elements as the filesystem spells paths.
	PathJoin(elem ...string) string
}

// File is a file open for writing.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// OSFS is the operating system's filesystem. Files it creates are mode 0600
// (the registry holds wrapped keys, and under a plaintext master key the keys
// themselves), exclusively and without following a symlink at the name: see
// privfile.Create.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) Open(name string) (io.ReadCloser, error) { return os.Open(name) }

func (OSFS) Create(name string) (File, error) {
	return privfile.Create(name)
}

func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (OSFS) Remove(name string) error             { return os.Remove(name) }
func (OSFS) PathJoin(elem ...string) string       { return filepath.Join(elem...) }

func (OSFS) SyncDir(dir string) error { return syncDir(dir) }

// syncDir makes the entries of the operating system's directory dir
// durable: a file's name is not, until its directory is synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
