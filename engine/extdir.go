package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Directories outside the store.
//
// Pebble may keep files outside the store directory: its WAL directory
// (Options.WALDir), WAL failover's secondary, a checkpoint made elsewhere.
// Their entries live in this store's dictionary, but never under a path
// that leaves the store ("../wal/000004.log"): such a path breaks as soon
// as either directory moves, and a dictionary that may name ".." holds
// records that point anywhere. Instead each such directory holds a small
// file, TDE-DIR, with a random identifier, and its files are keyed
// "TDE-EXT-<identifier in hex>/<name>". Either directory can move, the
// other with it or not: the identifier is found again wherever Pebble
// next names the directory.
//
// The identifier is made durable (written to a temporary file, synced,
// hard-linked into place, so that no one can replace an identifier
// already in use, and the directory synced) before any entry keyed by it
// is recorded. A torn temporary file is never taken for an identifier.
//
// An open cannot know where these directories are, so it keeps their
// entries (as it keeps a missing directory's, missingdirs.go). When Pebble
// first names one in the life of the FS, the dictionary settles it
// (adoptDir): moves from it whose rename did not happen are undone, and
// entries recorded under the "../" form of older versions for that
// directory are re-keyed. Only a directory Pebble names is ever looked
// at: the dictionary's records never send the engine anywhere.
//
// Each directory has its own identifier, subdirectories included. A copy
// of the directory carries it: the engine cannot tell the copy from the
// original, so seeing one never drops the entries of files it lacks (they
// go when the FS removes the files). A directory whose identifier was
// lost while it holds files the dictionary knows is refused
// (ErrLostMetadata, lostDirID) rather than read as one without entries.

const (
	dirIDFile  = "TDE-DIR"
	dirIDTemp  = "TDE-DIR.tmp"
	extPrefix  = "TDE-EXT-"
	dirIDMagic = "TDEDIR\x00\x01" // name and format version 1
	dirIDLen   = len(dirIDMagic) + 16
)

// extDirs maps the directories outside the store that the FS has seen to
// their dictionary names ("TDE-EXT-<hex>") and back.
type extDirs struct {
	adopt sync.Mutex // serializes the first sight of a directory

	mu     sync.RWMutex // a leaf: held for map access only
	byPath map[string]string
	byRel  map[string]string // where each was last seen
}

// isExt reports whether rel, a dictionary path, is in a directory outside
// the store.
func isExt(rel string) bool { return strings.HasPrefix(rel, extPrefix) }

// extRdir returns the directory part of an external rel.
func extRdir(rel string) string {
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return rel
}

// known returns dir's dictionary name, if the FS has seen it.
func (x *extDirs) known(dir string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.byPath[dir]
	return r, ok
}

// path returns where the directory rdir was last seen, if it was.
func (x *extDirs) path(rdir string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.byRel[rdir]
	return p, ok
}

func (x *extDirs) add(dir, rdir string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byPath == nil {
		x.byPath, x.byRel = make(map[string]string), make(map[string]string)
	}
	x.byPath[dir] = rdir
	x.byRel[rdir] = dir
}

// forget drops the directories at or under dir (removed or renamed), and
// returns their dictionary names. A directory also seen under another
// name (a link to it, removed) stays where that name says: the syncs its
// removals wait for (dirSyncs.resolve) must still find it.
func (x *extDirs) forget(dir string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var gone []string
	for p, r := range x.byPath {
		if p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			delete(x.byPath, p)
			if x.byRel[r] == p {
				delete(x.byRel, r)
				gone = append(gone, r)
			}
		}
	}
	for p, r := range x.byPath {
		if _, ok := x.byRel[r]; !ok {
			x.byRel[r] = p
		}
	}
	return slices.DeleteFunc(gone, func(r string) bool { _, ok := x.byRel[r]; return ok })
}

// under returns the dictionary names of the directories seen at or under
// dir.
func (x *extDirs) under(dir string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var rdirs []string
	for p, r := range x.byPath {
		if p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			rdirs = append(rdirs, r)
		}
	}
	return rdirs
}

// flushExt writes the removals whose records wait for a sync of a
// directory seen at or under dir, before dir is renamed or a link by that
// name removed: the FS then no longer knows where it is until Pebble
// names it again, and the sync, and with it every append, would fail.
// Call it holding every path lock.
func (f *FS) flushExt(dir string) error {
	for _, r := range f.ext.under(dir) {
		if err := f.dict.flushTree(r); err != nil {
			return err
		}
	}
	return nil
}

// outside reports whether name (cleaned) is outside the store directory,
// and its path relative to it as the lexical filepath.Rel gives it.
func (f *FS) outside(name string) (rel string, out bool, err error) {
	rel, err = filepath.Rel(f.dir, name)
	if err != nil {
		return "", false, &PathError{Op: "resolve", Path: name, Err: ErrOutsideStore}
	}
	rel = filepath.ToSlash(rel)
	return rel, rel == ".." || strings.HasPrefix(rel, "../"), nil
}

// extDir returns the dictionary name of dir, a directory outside the
// store, reading its TDE-DIR the first time; with create (and in a
// writable store) it makes one if there is none. ok is false if dir has
// no identifier and none was made: its files have no entries, except
// those of the "../" form an older version recorded (legacy).
func (f *FS) extDir(dir string, create bool) (rdir string, ok bool, err error) {
	dir = filepath.Clean(dir)
	if r, ok := f.ext.known(dir); ok {
		return r, true, nil
	}
	f.ext.adopt.Lock()
	defer f.ext.adopt.Unlock()
	if r, ok := f.ext.known(dir); ok {
		return r, true, nil
	}
	legacy, _, err := f.outside(dir)
	if err != nil {
		return "", false, err
	}
	if f.storeElsewhere(dir) {
		return "", false, &PathError{Op: "resolve", Path: dir, Err: fmt.Errorf("%w: it is the store directory %s, or a directory in it, under another name (a symbolic link): name the store as engine.Open was given it", ErrOutsideStore, f.dir)}
	}
	id, err := readDirID(f.base, dir)
	switch {
	case err == nil:
	case !oserror.IsNotExist(err):
		return "", false, err
	default:
		if err := f.lostDirID(dir); err != nil {
			return "", false, err
		}
		if f.cfg.ReadOnly || !create && !f.dict.hasDirLocked(legacy) {
			return "", false, nil
		}
		if id, err = writeDirID(privateFS(f.base), dir); err != nil {
			return "", false, err
		}
	}
	rdir = extPrefix + hex.EncodeToString(id)
	if !f.cfg.ReadOnly {
		// adoptDir takes a move whose source is gone as done: make the
		// directory durable first, as start does for the store's.
		if err := syncDirectory(f.base, dir); err != nil {
			return "", false, err
		}
		names, err := f.base.List(dir)
		if err != nil {
			return "", false, err
		}
		// Where a moved file is, to judge a rename a crash kept under
		// both names: dir is not yet where rdir was seen (f.ext).
		where := func(rel string) string {
			in, name := dir, rel[strings.LastIndexByte(rel, '/')+1:]
			if d := splitRel(rel); d != rdir {
				in = f.dirPath(d)
			}
			return f.base.PathJoin(in, name)
		}
		if err := f.dict.adoptDir(rdir, legacy, names, where); err != nil {
			return "", false, err
		}
	}
	f.ext.add(dir, rdir)
	return rdir, true, nil
}

// storeElsewhere reports whether dir, lexically outside the store, is the
// store directory or a directory in it reached by another name (a
// symbolic link to it): taken for a directory outside, it would get a
// TDE-DIR in the store and its files entries that no open naming the
// store as Open did finds. Only a base that reports inodes can tell; a
// MemFS has no links.
func (f *FS) storeElsewhere(dir string) bool {
	sfi, err := f.base.Stat(f.dir)
	if err != nil {
		return false
	}
	sdev, sino, ok := inodeOf(sfi)
	if !ok {
		return false
	}
	for d := dir; ; {
		if fi, err := f.base.Stat(d); err == nil {
			if dev, ino, ok := inodeOf(fi); ok && dev == sdev && ino == sino {
				return true
			}
		}
		p := filepath.Dir(d)
		if p == d {
			return false
		}
		d = p
	}
}

// lostDirID fails closed if dir, which has no TDE-DIR, holds a file named
// as one of the entries of a directory outside the store not seen since
// the open: most likely that directory, its identifier lost (its files
// copied without it, or cleaned up as unknown). Read as a directory with
// no identifier, its files would have no entry, and in a store that is
// not strict be read as plaintext.
func (f *FS) lostDirID(dir string) error {
	unseen := map[string]string{} // base name -> the entry's directory
	f.dict.each(func(rel string, _ entry) {
		if f.unseen(rel) {
			unseen[rel[strings.LastIndexByte(rel, '/')+1:]] = extRdir(rel)
		}
	})
	if len(unseen) == 0 {
		return nil
	}
	names, err := f.base.List(dir)
	if err != nil {
		return nil // nothing there to misread
	}
	for _, n := range names {
		if rdir, ok := unseen[n]; ok {
			return &PathError{Op: "open", Path: f.base.PathJoin(dir, dirIDFile), Err: fmt.Errorf(
				"%w: the directory has no identifier, but holds %s, a name the dictionary knows in %s: restore its %s (a copy of the directory made without it?)",
				ErrLostMetadata, n, rdir, dirIDFile)}
		}
	}
	return nil
}

// readDirID reads dir's identifier; a missing TDE-DIR is a not-exist
// error, anything but a well-formed one ErrCorruptDictionary naming it.
func readDirID(fs vfs.FS, dir string) ([]byte, error) {
	name := fs.PathJoin(dir, dirIDFile)
	r, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, int64(dirIDLen)+1))
	if err != nil {
		return nil, err
	}
	if len(b) != dirIDLen || !bytes.HasPrefix(b, []byte(dirIDMagic)) {
		return nil, fmt.Errorf("%w: %s is not a directory identifier (%d bytes)", ErrCorruptDictionary, name, len(b))
	}
	return b[len(dirIDMagic):], nil
}

// writeDirID gives dir a new identifier, durably, and returns it; if
// someone else gave it one meanwhile, that one.
func writeDirID(fs vfs.FS, dir string) ([]byte, error) {
	id := make([]byte, dirIDLen-len(dirIDMagic))
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	tmp, name := fs.PathJoin(dir, dirIDTemp), fs.PathJoin(dir, dirIDFile)
	w, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("engine: writing the identifier of %s, a directory outside the store: %w", dir, err)
	}
	_, err = w.Write(append([]byte(dirIDMagic), id...))
	if err == nil {
		err = w.Sync()
	}
	err = errors.Join(err, w.Close())
	if err == nil {
		err = fs.Link(tmp, name)
		if oserror.IsExist(err) {
			fs.Remove(tmp)
			return readDirID(fs, dir)
		}
	}
	fs.Remove(tmp)
	if err == nil {
		err = syncDirectory(fs, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: writing the identifier of %s, a directory outside the store: %w", dir, err)
	}
	return id, nil
}

// unseen reports whether rel is in a directory outside the store that the
// FS has not seen since it opened.
func (f *FS) unseen(rel string) bool {
	if !isExt(rel) {
		return false
	}
	_, ok := f.ext.path(extRdir(rel))
	return !ok
}

// dirPath turns a directory of the dictionary ("." for the store's, or
// "TDE-EXT-<hex>") into a name on the base FS. A directory outside the
// store not seen yet gets a name under the store directory that cannot
// exist (TDE-EXT- names are reserved there): it reads as missing.
func (f *FS) dirPath(rdir string) string {
	if isExt(rdir) {
		if p, ok := f.ext.path(extRdir(rdir)); ok {
			if i := strings.IndexByte(rdir, '/'); i >= 0 {
				return f.base.PathJoin(p, filepath.FromSlash(rdir[i+1:]))
			}
			return p
		}
	}
	return f.base.PathJoin(f.dir, filepath.FromSlash(rdir))
}

// adoptLegacy gives each directory at or under dir (rel, as outside
// returns it) that holds entries of the "../" form of older versions its
// identifier now, re-keying them (extDir): renamed or removed while
// unseen, it would leave them under a name no file has any more.
func (f *FS) adoptLegacy(dir, rel string) error {
	seen := map[string]bool{}
	f.dict.each(func(p string, _ entry) {
		if d := splitRel(p); !isExt(p) && !inStoreTree(p) && atOrUnder(d, rel) {
			seen[d] = true
		}
	})
	for d := range seen {
		name := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(d, rel)))
		if fi, err := f.base.Stat(name); err != nil || !fi.IsDir() {
			continue // not there: nothing moves with dir
		}
		if _, _, err := f.extDir(name, false); err != nil {
			return err
		}
	}
	return nil
}

// errInStore tells Rename that neither name is outside the store.
var errInStore = errors.New("engine: both names in the store")

// renameOutside renames a directory outside the store; its identifier
// goes with it, so its files keep their entries and only where it is
// seen changes. A directory moved into or out of the store directory
// would need its entries re-keyed; that is refused, changing nothing.
// It returns errInStore if both names are in the store.
func (f *FS) renameOutside(oldname, newname string) error {
	relOld, outOld, err := f.outside(oldname)
	if err != nil {
		return err
	}
	relNew, outNew, err := f.outside(newname)
	if err != nil {
		return err
	}
	switch {
	case !outOld && !outNew:
		return errInStore
	case storeOrAncestor(relOld) || storeOrAncestor(relNew):
		return errors.Join(checkTree("rename", oldname, relOld), checkTree("rename", newname, relNew))
	case f.closed.Load():
		return &PathError{Op: "rename", Path: oldname, Err: ErrClosed}
	case outOld != outNew:
		return &os.LinkError{Op: "rename", Old: oldname, New: newname,
			Err: fmt.Errorf("%w: a directory moved into or out of the store directory", ErrOutsideStore)}
	}
	if err := f.refuseReadOnly("rename", oldname); err != nil {
		return err
	}
	if err := f.adoptLegacy(filepath.Clean(oldname), relOld); err != nil {
		return err
	}
	defer f.paths.lockAll()()
	if err := f.flushExt(filepath.Clean(oldname)); err != nil {
		return err
	}
	if err := f.base.Rename(oldname, newname); err != nil {
		return err
	}
	f.ext.forget(filepath.Clean(oldname))
	return nil
}

// removeAllOutside removes dir, a directory outside the store, with
// everything under it, in RemoveAll's order (removeall.go): the files,
// the sync of its parent, then the record dropping the entries of the
// directories under it that have identifiers this FS knows or that dir
// itself has. Entries of others under it stay, holding their keys.
func (f *FS) removeAllOutside(name string) error {
	if f.closed.Load() {
		return &PathError{Op: "remove", Path: name, Err: ErrClosed}
	}
	if err := f.refuseReadOnly("remove", name); err != nil {
		return err
	}
	dir := filepath.Clean(name)
	if rel, _, err := f.outside(dir); err != nil {
		return err
	} else if err := f.adoptLegacy(dir, rel); err != nil {
		return err
	}
	defer f.paths.lockAll()()
	if err := f.dict.canWrite(); err != nil {
		return err
	}
	if isSymlink(f.base, name) {
		// Only the link goes; the entries of its target stay.
		if err := f.flushExt(dir); err != nil {
			return err
		}
		f.ext.forget(dir)
		return f.base.RemoveAll(name)
	}
	rdirs := map[string]bool{}
	f.ext.mu.RLock()
	for p, r := range f.ext.byPath {
		if p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			rdirs[r] = true
		}
	}
	f.ext.mu.RUnlock()
	if id, err := readDirID(f.base, dir); err == nil {
		rdirs[extPrefix+hex.EncodeToString(id)] = true
	}
	for r := range rdirs {
		if err := f.dict.flushTree(r); err != nil {
			return err
		}
	}
	if err := f.base.RemoveAll(name); err != nil {
		return err
	}
	f.ext.forget(dir)
	if len(rdirs) == 0 {
		return nil
	}
	if err := syncDirectory(f.base, filepath.Dir(dir)); err != nil {
		return err // the entries stay, for files that may come back
	}
	for r := range rdirs {
		if err := f.dict.removeTree(r); err != nil {
			f.log.Warn("tde: cannot drop dictionary entries; they stay until the directory is seen again", "dir", name, "err", err)
		}
	}
	return nil
}
