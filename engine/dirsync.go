package engine

import (
	"errors"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// dirSyncs numbers the syncs of each directory of a store, so that a
// namespace change (a removal) can later tell whether a sync that began
// after it has finished, whoever asked for it (Pebble syncs its data
// directory after every flush and compaction), and skip a sync of its own.
// Directories are keyed by their slash path relative to the store.
type dirSyncs struct {
	fs   vfs.FS
	root string
	// resolve turns a directory's key into its name; nil joins it to root.
	resolve func(rdir string) string

	mu   sync.Mutex
	dirs map[string]*dirSyncCount
}

// dirSyncCount: syncs begun, and the highest-numbered one finished. A
// finished sync makes durable every change completed before it began, so
// the highest number finished is what counts.
type dirSyncCount struct{ begun, done uint64 }

func newDirSyncs(fs vfs.FS, root string) *dirSyncs {
	return &dirSyncs{fs: fs, root: root, dirs: make(map[string]*dirSyncCount)}
}

func (t *dirSyncs) count(rdir string) *dirSyncCount {
	c := t.dirs[rdir]
	if c == nil {
		c = &dirSyncCount{}
		t.dirs[rdir] = c
	}
	return c
}

// ticket is called just after a change to rdir completed; the change is
// durable once a sync numbered ticket or higher has finished.
func (t *dirSyncs) ticket(rdir string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count(rdir).begun + 1
}

// durable reports whether a sync numbered ticket or higher has finished.
func (t *dirSyncs) durable(rdir string, ticket uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count(rdir).done >= ticket
}

func (t *dirSyncs) begin(rdir string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.count(rdir)
	c.begun++
	return c.begun
}

func (t *dirSyncs) finish(rdir string, n uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.count(rdir)
	c.done = max(c.done, n)
}

// sync syncs rdir.
func (t *dirSyncs) sync(rdir string) error {
	name := t.fs.PathJoin(t.root, rdir)
	if t.resolve != nil {
		name = t.resolve(rdir)
	}
	d, err := t.fs.OpenDir(name)
	if err != nil {
		return err
	}
	return errors.Join(countedDir{File: d, t: t, rdir: rdir}.Sync(), d.Close())
}

// ensure syncs rdir unless a sync numbered ticket or higher has finished.
func (t *dirSyncs) ensure(rdir string, ticket uint64) error {
	if t.durable(rdir, ticket) {
		return nil
	}
	return t.sync(rdir)
}

// countedDir is a directory handle whose syncs dirSyncs counts.
type countedDir struct {
	vfs.File
	t    *dirSyncs
	rdir string
	// A directory outside the store may get its identifier after Pebble
	// opened it (its first file): its syncs count under that, once known.
	name string
	ext  *extDirs
}

func (d countedDir) key() string {
	if d.ext != nil && !isExt(d.rdir) {
		if r, ok := d.ext.known(filepath.Clean(d.name)); ok {
			return r
		}
	}
	return d.rdir
}

func (d countedDir) Sync() error {
	rdir := d.key()
	n := d.t.begin(rdir)
	err := d.File.Sync()
	if err == nil {
		d.t.finish(rdir, n)
	}
	return err
}

// syncDirectory syncs dir.
func syncDirectory(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
