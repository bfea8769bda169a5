package engine

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/privfile"
)

// privateFS returns the filesystem the key registry and the file dictionary
// create their files through (TDE-KEYS and its temporary twin, the
// dictionary's logs, its atomicfs markers). When base is ultimately the
// disk (vfs.Root unwraps it to vfs.Default: vfs.WithDiskHealthChecks,
// vfs.OnDiskFull, errorfs and any wrapper with an Unwrap method), its
// Create makes files mode 0600, exclusively and without following
// symlinks, and then opens them through base, so a wrapper still sees every
// write and sync. vfs.FS has no mode, and a wrapper's Create would make
// them 0644: under a plaintext master key the registry holds the data keys
// themselves. On any other base (a MemFS) files have no mode and base is
// returned as is.
func privateFS(base vfs.FS) vfs.FS {
	if vfs.Root(base) != vfs.Default {
		return base
	}
	return diskPrivateFS{base}
}

type diskPrivateFS struct{ vfs.FS }

// Create creates name mode 0600 on the disk, or fails naming it if a
// symlink or anything but a leftover regular file is in the way (see
// privfile.Create), then opens it for writing through the wrapped FS.
func (p diskPrivateFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := privfile.Create(name)
	if err != nil {
		return nil, err
	}
	made, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		p.FS.Remove(name)
		return nil, err
	}
	bf, err := p.FS.OpenReadWrite(name, category)
	if err != nil {
		p.FS.Remove(name)
		return nil, err
	}
	// The name was ours an instant ago; if it names another file now
	// (someone swapped in a symlink), write nothing through it.
	if fi, err := bf.Stat(); err != nil || !sameFile(made, fi) {
		bf.Close()
		if err == nil {
			err = fmt.Errorf("%w: another file took its name while it was being created", privfile.ErrInTheWay)
		}
		return nil, fmt.Errorf("engine: creating %s: %w", name, err)
	}
	return bf, nil
}

// Unwrap returns the wrapped FS, so vfs.Root sees through privateFS.
func (p diskPrivateFS) Unwrap() vfs.FS { return p.FS }
