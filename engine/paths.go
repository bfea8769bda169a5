package engine

import (
	"hash/maphash"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tde-go/tde/keys"
)

// Names the engine keeps for itself in the store directory. They are never
// encrypted, never in the dictionary, and the FS refuses to create, open for
// writing, rename or remove them on Pebble's behalf.
const (
	lockFile         = "TDE-LOCK"
	dictMarker       = "tde-dict"
	dictFilePrefix   = "TDE-DICT-"
	reencryptSuffix  = ".tde-reencrypt"
	registryTempFile = keys.RegistryFile + ".tmp"
)

// reserved reports whether rel (slash-separated, relative to the store
// directory) is one of the engine's own files.
func reserved(rel string) bool {
	if strings.Contains(rel, "/") {
		return false
	}
	switch rel {
	case lockFile, keys.RegistryFile, registryTempFile:
		return true
	}
	return strings.HasPrefix(rel, dictFilePrefix) || strings.HasPrefix(rel, "marker."+dictMarker+".")
}

// relPath turns a name Pebble passes into the dictionary's key: the path
// relative to the store directory, slash-separated, so the store can move.
// Files outside the directory (a WAL directory elsewhere) get a path
// starting with "..", which stays valid as long as both move together.
func (f *FS) relPath(name string) (string, error) {
	rel, err := filepath.Rel(f.dir, name)
	if err != nil {
		return "", &PathError{Op: "resolve", Path: name, Err: ErrOutsideStore}
	}
	return filepath.ToSlash(rel), nil
}

// pathLocks orders the operations on one path: a namespace change (create,
// rename, remove) against an open of the same path, so an open never pairs
// one file's bytes with another's dictionary entry. Striped, so an open
// waits only behind changes to a path that hashes alike, never behind the
// whole store (cockroach#98051: one lock held across the registry's fsync
// stalled every file open).
type pathLocks struct {
	seed  maphash.Seed
	locks [256]sync.RWMutex
}

func (p *pathLocks) of(rel string) *sync.RWMutex {
	return &p.locks[maphash.String(p.seed, rel)%uint64(len(p.locks))]
}

// lockPair write-locks the stripes of two paths in a fixed order and
// returns the unlock.
func (p *pathLocks) lockPair(a, b string) func() {
	la, lb := p.of(a), p.of(b)
	if la == lb {
		la.Lock()
		return la.Unlock
	}
	ia := maphash.String(p.seed, a) % uint64(len(p.locks))
	ib := maphash.String(p.seed, b) % uint64(len(p.locks))
	if ia > ib {
		la, lb = lb, la
	}
	la.Lock()
	lb.Lock()
	return func() { lb.Unlock(); la.Unlock() }
}

// abs turns a dictionary path back into a name on the base FS.
func (f *FS) abs(rel string) string {
	return f.base.PathJoin(f.dir, filepath.FromSlash(rel))
}
