// Package privfile creates the files that hold tde's metadata (the key
// registry, the file dictionary, their temporary twins) on the operating
// system's filesystem: readable by their owner only, and never through a
// name an attacker planted.
//
// A chmod after an ordinary create is not enough: between the two, anyone
// may open the file and keep the descriptor. So the file is created with its
// final mode, exclusively (O_EXCL) and without following a symlink
// (O_NOFOLLOW): a symlink at the name, dangling or not, makes the create
// fail instead of writing wherever it points.
package privfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Mode is the mode of every file Create makes, whatever the umask.
const Mode fs.FileMode = 0o600

// ErrInTheWay: something other than a regular file (a symlink, a
// directory, a device) has the name a private file was to be created with.
var ErrInTheWay = errors.New("not a regular file")

// Create creates name for writing, mode 0600, exclusively and without
// following symlinks. A regular file already there (the leftover of a write
// a crash interrupted) is removed first, as Pebble's vfs.Default does for
// Create: the new file is a new inode, so a hard link planted at the name
// is cut, not written through. Anything else at the name is refused with an
// *fs.PathError naming it and matching ErrInTheWay and fs.ErrExist.
func Create(name string) (*os.File, error) {
	f, err := CreateNew(name)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := os.Lstat(name)
		if lerr != nil || !fi.Mode().IsRegular() {
			return nil, inTheWay(name, fi)
		}
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		// Once only: a name that is taken again at once is contested.
		f, err = CreateNew(name)
		if errors.Is(err, fs.ErrExist) {
			fi, _ := os.Lstat(name)
			return nil, inTheWay(name, fi)
		}
	}
	return f, err
}

// CreateNew is Create for a file that must not replace anything (a new
// master key file: the one there may wrap a store): whatever has the name,
// a regular file or a symlink, stays as it was and the create fails with
// the system's error, matching fs.ErrExist.
func CreateNew(name string) (*os.File, error) {
	const flags = os.O_RDWR | os.O_CREATE | os.O_EXCL | noFollow
	f, err := os.OpenFile(name, flags, Mode)
	if err != nil {
		return nil, err
	}
	// The umask may have taken bits away (0400): set exactly 0600. The
	// file was never more open than that, so this leaks nothing.
	if err := f.Chmod(Mode); err != nil {
		f.Close()
		os.Remove(name)
		return nil, err
	}
	return f, nil
}

func inTheWay(name string, fi fs.FileInfo) error {
	what := "something"
	if fi != nil {
		switch m := fi.Mode(); {
		case m&fs.ModeSymlink != 0:
			what = "a symlink"
		case m.IsDir():
			what = "a directory"
		default:
			what = fmt.Sprintf("a %v file", m.Type())
		}
	}
	return &fs.PathError{Op: "create", Path: name, Err: &inTheWayError{what: what}}
}

type inTheWayError struct{ what string }

func (e *inTheWayError) Error() string {
	return e.what + " is in the way (refusing to write through it)"
}

func (e *inTheWayError) Is(target error) bool {
	return target == ErrInTheWay || target == fs.ErrExist
}
