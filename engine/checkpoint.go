package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// Portable checkpoints.
//
// Pebble's db.Checkpoint(dir) writes every file of the checkpoint through
// the FS: their entries go to this store's dictionary, keyed relative to
// this store ("ckpt/000005.sst", "../ckpt/000005.sst"). Copied or moved
// anywhere, dir alone could not be read. So the engine exports dir as a
// store of its own when the checkpoint completes: a file dictionary of its
// own holding each file's entry keyed relative to dir, and a copy of the
// key registry (the same wrapped bytes: it opens with the master key it
// was wrapped under). Once that is durable, this store's dictionary drops
// its entries for the checkpoint's files: the checkpoint is another store.
//
// Pebble's Checkpoint makes dir, opens it (the handle it syncs last),
// copies OPTIONS, moves the format-version marker, links or copies tables
// and blob files, writes the MANIFEST and moves the manifest marker (a
// handle of its own on dir, synced at once: a failed sync there panics),
// copies the WALs, then syncs its first handle and closes it. Only a
// checkpoint creates a manifest marker in a directory that is not a
// running store (Pebble's LOCK); the handle that Pebble opened on dir while
// it was still empty is synced after every file is in place. That sync
// exports first; if the export fails, the sync fails and Pebble removes
// the checkpoint.
//
// A crash during the export leaves a directory that opens as the complete
// store, or fails to open with a typed error (fail-closed, failclosed.go):
// the dictionary is written before the registry, as a first Open does, and
// an encrypted OPTIONS without a dictionary is lost metadata.

// checkpoints remembers the directories, relative to the store, in which
// a manifest marker was created, until a sync exports them.
type checkpoints struct {
	mu      sync.Mutex
	pending map[string]bool
}

// noteCheckpoint is called after Create made rel: a manifest marker in a
// directory other than the store's may be a checkpoint's.
func (f *FS) noteCheckpoint(rel string) {
	rdir := splitRel(rel)
	if rdir == "." || !strings.HasPrefix(path.Base(rel), pebblefile.ManifestMarkerPrefix) {
		return
	}
	f.ckpts.mu.Lock()
	defer f.ckpts.mu.Unlock()
	if f.ckpts.pending == nil {
		f.ckpts.pending = make(map[string]bool)
	}
	f.ckpts.pending[rdir] = true
}

// takeCheckpoint reports whether rdir awaits an export, and forgets it.
func (f *FS) takeCheckpoint(rdir string) bool {
	f.ckpts.mu.Lock()
	defer f.ckpts.mu.Unlock()
	p := f.ckpts.pending[rdir]
	delete(f.ckpts.pending, rdir)
	return p
}

// dirHandle returns the handle OpenDir gives for d, a directory named
// name: one that exports a checkpoint before its sync if d is outside the
// store directory's top level and empty, as a checkpoint's directory is
// when Pebble opens the handle it syncs last.
func (f *FS) dirHandle(name string, d countedDir) vfs.File {
	if d.rdir == "." {
		return d
	}
	names, err := f.base.List(name)
	if err != nil {
		return d
	}
	for _, n := range names {
		if n != dirIDFile {
			return d
		}
	}
	return checkpointDir{countedDir: d, f: f, name: name}
}

// checkpointDir is a handle on a directory that was empty when opened.
type checkpointDir struct {
	countedDir
	f    *FS
	name string
}

// Sync exports the directory as a store first if a checkpoint completed
// in it, then syncs it, which makes the export durable; only then does
// this store forget the checkpoint's entries (forgetExported).
func (d checkpointDir) Sync() error {
	rdir := d.key() // a directory outside the store has its identifier now
	exported, err := d.f.exportIfCheckpoint(d.name, rdir)
	if err != nil {
		return err
	}
	if err := d.countedDir.Sync(); err != nil {
		return err
	}
	if exported {
		d.f.forgetExported(d.name, rdir)
	}
	return nil
}

// exportIfCheckpoint exports dir (rdir relative to the store) if a manifest
// marker was created in it and it is not a running Pebble store, and
// reports whether it did.
func (f *FS) exportIfCheckpoint(dir, rdir string) (bool, error) {
	if !f.takeCheckpoint(rdir) {
		return false, nil
	}
	defer f.inflight()()
	if f.closed.Load() {
		return false, &PathError{Op: "export checkpoint", Path: dir, Err: ErrClosed}
	}
	names, err := f.base.List(dir)
	if err != nil {
		return false, &PathError{Op: "export checkpoint", Path: dir, Err: err}
	}
	marker := false
	for _, n := range names {
		if n == pebblefile.Lock {
			return false, nil // a store Pebble runs in, not a checkpoint
		}
		marker = marker || strings.HasPrefix(n, pebblefile.ManifestMarkerPrefix)
	}
	if !marker {
		return false, nil
	}
	if err := f.exportStore(dir, rdir, names); err != nil {
		return false, &PathError{Op: "export checkpoint", Path: dir, Err: err}
	}
	return true, nil
}

// forgetExported drops this store's entries for the files of rdir, a
// checkpoint exported and synced: its own dictionary and registry copy
// hold what they need, and, kept here, the entries would hold their data
// keys in this registry for as long as the checkpoint exists, or forever
// once it is moved away (an open keeps the entries of a missing
// directory). A failure leaves redundant entries, which is harmless.
func (f *FS) forgetExported(dir, rdir string) {
	defer f.inflight()()
	if err := f.dict.removePrefix(rdir); err != nil {
		f.log.Warn("tde: cannot drop the entries of an exported checkpoint; they stay, holding their data keys", "dir", rdir, "err", err)
		return
	}
	if isExt(rdir) {
		// The checkpoint is a store now, not a directory of this one's.
		f.ext.forget(filepath.Clean(dir))
		if err := f.base.Remove(f.base.PathJoin(dir, dirIDFile)); err != nil {
			f.log.Warn("tde: cannot remove the directory identifier of an exported checkpoint; it is harmless", "dir", dir, "err", err)
		}
	}
}

// exportStore makes dir, holding names, a store of its own: a dictionary
// with the entry of each file, then a copy of the key registry. A file with
// no entry fails it if this store is strict (it could not be read here
// either); otherwise it is plaintext from before encryption, and the
// checkpoint is not strict either.
func (f *FS) exportStore(dir, rdir string, names []string) error {
	strict := f.dict.strict()
	entries := make(map[string]entry, len(names))
	for _, n := range names {
		p := f.base.PathJoin(dir, n)
		if n == dirIDFile {
			continue // this store's identifier for dir (extdir.go)
		}
		if reserved(n) {
			return fmt.Errorf("%s is one of tde's own files: the directory already holds a store: %w", p, os.ErrExist)
		}
		fi, err := f.base.Stat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file, and a checkpoint holds nothing else", p)
		}
		e, ok := f.dict.get(rdir + "/" + n)
		if !ok {
			if strict {
				return &MissingEntryError{Path: p}
			}
			continue
		}
		entries[n] = e
	}
	pfs := privateFS(f.base)
	if err := writeDictionary(pfs, dir, entries, strict, f.log); err != nil {
		return err
	}
	return f.copyRegistry(pfs, dir)
}

// writeDictionary writes the first dictionary of the store in dir, holding
// entries, and its marker; dir must have none.
func writeDictionary(fs vfs.FS, dir string, entries map[string]entry, strict bool, log *slog.Logger) error {
	marker, name, err := atomicfs.LocateMarker(fs, dir, dictMarkerName)
	if err != nil {
		return fmt.Errorf("engine: locating the file dictionary in %s: %w", dir, err)
	}
	if name != "" {
		marker.Close()
		return fmt.Errorf("engine: %s already has a file dictionary (%s): %w", dir, name, os.ErrExist)
	}
	d := &dictionary{fs: fs, dir: dir, state: newDictState(), removed: make(map[string]bool), marker: marker,
		opts: dictOptions{RewriteThreshold: defaultRewriteThreshold, Logger: log, Dirs: newDirSyncs(fs, dir)}}
	d.header = dictHeader{strict: strict, created: time.Now()}
	for rel, e := range entries {
		op := dictOp{kind: opPut, path: rel, e: e}
		if err := errors.Join(checkEntry(rel, e), checkOpPaths(op)); err != nil {
			marker.Close()
			return err
		}
		d.state.apply(op)
	}
	d.wmu.Lock()
	err = d.rewrite()
	d.wmu.Unlock()
	return errors.Join(err, d.close())
}

// maxRegistryCopy bounds what copyRegistry reads: a registry holds a few
// wrapped keys.
const maxRegistryCopy = 64 << 20

// copyRegistry copies the key registry's bytes, as wrapped, into dir:
// written to its temporary name, synced, renamed into place (the caller
// syncs dir).
func (f *FS) copyRegistry(pfs vfs.FS, dir string) error {
	src := f.base.PathJoin(f.dir, keys.RegistryFile)
	r, err := f.base.Open(src)
	if err != nil {
		return fmt.Errorf("engine: reading the key registry %s: %w", src, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxRegistryCopy+1))
	r.Close()
	if err != nil {
		return fmt.Errorf("engine: reading the key registry %s: %w", src, err)
	}
	if len(data) > maxRegistryCopy {
		return fmt.Errorf("engine: key registry %s: larger than %d bytes: %w", src, maxRegistryCopy, keys.ErrCorruptRegistry)
	}
	tmp := pfs.PathJoin(dir, registryTempFile)
	dst := pfs.PathJoin(dir, keys.RegistryFile)
	w, err := pfs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = pfs.Rename(tmp, dst)
	}
	if err != nil {
		pfs.Remove(tmp)
		return fmt.Errorf("engine: copying the key registry to %s: %w", dst, err)
	}
	return nil
}

// holdsStore reports whether a subdirectory listing names is a store of
// its own, as an exported checkpoint is: it has a dictionary marker or a
// key registry. The source's walks (Status, Files, Reencrypt,
// ReencryptAll) leave it alone: a rewrite through the source would make
// its dictionary stale, and its own metadata, which has no entry in the
// source, would be taken for plaintext files.
func holdsStore(names []string) bool {
	for _, n := range names {
		if n == keys.RegistryFile || strings.HasPrefix(n, pebblefile.MarkerPrefix+dictMarkerName+".") {
			return true
		}
	}
	return false
}

// inNestedStore reports whether rel, a file with no entry here, is in a
// subdirectory that holds a store of its own (an exported checkpoint,
// whose entries this store dropped): read through this store, it would be
// a missing entry, or, in a store that is not strict, ciphertext taken for
// plaintext.
func (f *FS) inNestedStore(rel string) bool {
	rdir := splitRel(rel)
	if rdir == "." {
		return false
	}
	_, err := f.base.Stat(f.base.PathJoin(f.abs(rdir), keys.RegistryFile))
	return err == nil
}
