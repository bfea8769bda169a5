package engine

import (
	"hash/maphash"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// Names the engine keeps for itself in the store directory. They are never
// encrypted, never in the dictionary, and the FS refuses to create, open for
// writing, rename or remove them on Pebble's behalf.
const (
	lockFile         = "TDE-LOCK"
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
	case lockFile, keys.RegistryFile, registryTempFile, dirIDFile, dirIDTemp:
		return true
	}
	return strings.HasPrefix(rel, dictLogPrefix) || strings.HasPrefix(rel, pebblefile.MarkerPrefix+dictMarkerName+".")
}

// relPath turns a name Pebble passes into the dictionary's key: the path
// relative to the store directory, slash-separated, so the store can move.
// A file in a directory outside the store (a WAL directory elsewhere) is
// keyed by that directory's identifier (extdir.go), read here.
func (f *FS) relPath(name string) (string, error) { return f.relPathFor(name, false) }

// relPathFor is relPath for an operation that may record an entry
// (create): a directory outside the store without an identifier gets one.
func (f *FS) relPathFor(name string, create bool) (string, error) {
	rel, out, err := f.outside(name)
	if err != nil {
		return "", err
	}
	if !out {
		if isExt(rel) {
			return "", &PathError{Op: "resolve", Path: name, Err: ErrReservedName}
		}
		return rel, nil
	}
	clean := filepath.Clean(name)
	rdir, ok, err := f.extDir(filepath.Dir(clean), create)
	if err != nil || !ok {
		return rel, err // no identifier: no entry but a legacy one
	}
	ext := rdir + "/" + filepath.Base(clean)
	if f.cfg.ReadOnly {
		// Nothing is re-keyed in a read-only open: an entry of an older
		// version may still be under "../".
		if _, has := f.dict.get(ext); !has {
			if _, has := f.dict.get(rel); has {
				return rel, nil
			}
		}
	}
	return ext, nil
}

// dirRel is relPath for a directory: a directory outside the store is
// named by its own identifier, never made here.
func (f *FS) dirRel(name string) (string, error) {
	rel, out, err := f.outside(name)
	if err != nil || !out {
		return rel, err
	}
	if rdir, ok, err := f.extDir(name, false); err != nil || ok {
		return rdir, err
	}
	return rel, nil
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

// abs turns a dictionary path back into a name on the base FS (see
// dirPath for a directory outside the store not seen yet).
func (f *FS) abs(rel string) string { return f.dirPath(rel) }

// under reports whether rel lies inside the directory dir.
func under(rel, dir string) bool {
	return len(rel) > len(dir) && rel[len(dir)] == '/' && strings.HasPrefix(rel, dir)
}

func atOrUnder(rel, dir string) bool { return rel == dir || under(rel, dir) }

// storeOrAncestor reports whether rel names the store directory or a
// directory holding it.
func storeOrAncestor(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg != "." && seg != ".." {
			return false
		}
	}
	return true
}

// lockAll write-locks every stripe, in index order as lockPair does, and
// returns the unlock: for the operations on a whole tree of names.
func (p *pathLocks) lockAll() func() {
	for i := range p.locks {
		p.locks[i].Lock()
	}
	return func() {
		for i := len(p.locks) - 1; i >= 0; i-- {
			p.locks[i].Unlock()
		}
	}
}
