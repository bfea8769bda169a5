package engine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// FileInfo is one file of the store as the file dictionary records it:
// what tdectl dump lists. It holds no key material (an IV is not secret).
type FileInfo struct {
	// Path is relative to the store directory and slash-separated
	// ("../wal/000004.log" for a file outside it).
	Path string
	// Entry reports whether the dictionary has an entry for Path. A file
	// without one was written before encryption was turned on and is read
	// as plaintext (or, in a strict store, refused).
	Entry bool
	// Method is the file's method; MethodPlaintext without an entry.
	Method keys.Method
	// KeyID is the data key the file is encrypted with; 0 for plaintext.
	KeyID uint64
	// IV is the counter block of the file's first 16 bytes; zero for
	// plaintext.
	IV [16]byte
	// Present reports whether the file exists; Size is its size then.
	Present bool
	Size    int64
}

// Files lists every file of the store, sorted by path: the regular files of
// the store directory tree (as Status counts them: not tde's own files nor
// Pebble's LOCK), and the dictionary's entries outside it or for files not
// found. It fails if a directory of the store cannot be listed or a file
// cannot be statted.
func (f *FS) Files() ([]FileInfo, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	var out []FileInfo
	seen := map[string]bool{}
	add := func(rel string, e entry, ok, present bool, size int64) {
		fi := FileInfo{Path: rel, Entry: ok, Method: keys.MethodPlaintext, Present: present, Size: size}
		if ok {
			fi.Method, fi.KeyID, fi.IV = e.Method, e.KeyID, e.IV
		}
		out = append(out, fi)
	}
	err := f.walk(".", func(rel string, fi vfs.FileInfo) {
		seen[rel] = true
		e, ok := f.dict.get(rel)
		add(rel, e, ok, true, fi.Size())
	})
	if err != nil {
		return nil, fmt.Errorf("engine: listing the files of %s: %w", f.dir, err)
	}
	f.dict.each(func(rel string, e entry) {
		if seen[rel] {
			return
		}
		fi, err := f.base.Stat(f.abs(rel))
		if err == nil && !fi.IsDir() {
			add(rel, e, true, true, fi.Size())
		} else {
			add(rel, e, true, false, 0)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// RegistryPath is the key registry file of the store.
func (f *FS) RegistryPath() string { return f.reg.Path() }

// DataKeyHex returns the bytes of data key id, hex-encoded.
//
// It exists for one purpose: an operator's explicit request to see a data
// key (tdectl dump --show-keys), say to decrypt a file with another tool
// during recovery. A data key in the clear defeats encryption at rest for
// every file it encrypts: never log it, never call this otherwise. Id 0
// (the plaintext key) and unknown ids are errors, the latter matching
// keys.ErrKeyNotFound.
func (f *FS) DataKeyHex(id uint64) (string, error) {
	if f.closed.Load() {
		return "", ErrClosed
	}
	if id == 0 {
		return "", errors.New("engine: data key 0000000000000000 is the plaintext key: it has no bytes")
	}
	dk, err := f.reg.Key(id)
	if err != nil {
		return "", fmt.Errorf("engine: data key %s: %w", keys.FormatID(id), err)
	}
	b := dk.Key()
	if b == nil {
		return "", fmt.Errorf("engine: data key %s: %w", keys.FormatID(id), keys.ErrKeyNotFound)
	}
	return hex.EncodeToString(b), nil
}
