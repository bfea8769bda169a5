package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
)

// Recovery: an open reads the log, replays it, and reconciles it with
// the disk (torn tails, unfinished moves, files proven gone), writing
// nothing until start.

// readDictionary replays the dictionary in dir without writing anything:
// it drops a torn tail, undoes moves whose rename did not happen and
// collects entries of files that no longer exist. A directory without a
// dictionary gives an empty one that start will create.
func readDictionary(fs vfs.FS, dir string, opts dictOptions) (*dictionary, error) {
	if opts.RewriteThreshold <= 0 {
		opts.RewriteThreshold = defaultRewriteThreshold
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Dirs == nil {
		opts.Dirs = newDirSyncs(fs, dir)
	}
	d := &dictionary{fs: fs, dir: dir, opts: opts, state: newDictState(), removed: make(map[string]bool)}
	marker, name, err := atomicfs.LocateMarker(fs, dir, dictMarkerName)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil // no directory yet; start locates the marker again
	}
	if err != nil {
		return nil, fmt.Errorf("engine: locating the file dictionary in %s: %w", dir, err)
	}
	d.marker = marker
	if name == "" {
		if err := lostDictionary(fs, dir); err != nil {
			marker.Close()
			return nil, err
		}
		return d, nil
	}
	d.existed = true
	d.logName = name
	if err := d.load(fs.PathJoin(dir, name)); err != nil {
		marker.Close()
		return nil, err
	}
	return d, nil
}

// load replays the log at path and reconciles it with the directory.
func (d *dictionary) load(path string) error {
	f, err := d.fs.Open(path)
	if err != nil {
		return unreadableLog(d.dir, path, d.logName, err)
	}
	data, err := readDictionaryLog(f, path)
	f.Close()
	if err != nil {
		return err
	}
	// Replay only builds the map; the per-key counts are made once, after.
	d.state.uncounted = true
	if err := d.replay(path, data); err != nil {
		return err
	}
	if err := d.reconcile(path); err != nil {
		return err
	}
	d.state.recount()
	return nil
}

// replay applies the records of data, the log at path.
func (d *dictionary) replay(path string, data []byte) error {
	corrupt := func(off int64, format string, args ...any) error {
		return &CorruptDictionaryError{Path: path, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	r := record.NewReader(bytes.NewReader(data), 0)
	var rec bytes.Buffer
	var ops []dictOp
	var end int64 // of the last good record
	for n := 0; ; n++ {
		off := recordStart(r.Offset())
		rr, err := r.Next()
		if err == io.EOF {
			if n == 0 {
				return corrupt(0, "empty log: no header")
			}
			// The reader skips a few zeros after the last record as block
			// padding, but a record appended after them would follow a
			// zeroed chunk header: append only where the last record
			// ends the file.
			d.resumeAt = end
			d.needRewrite = d.needRewrite || end != int64(len(data))
			return nil
		}
		if err == nil {
			rec.Reset()
			_, err = rec.ReadFrom(rr)
			end = r.Offset()
		}
		if err != nil {
			if !record.IsInvalidRecord(err) {
				return fmt.Errorf("engine: reading file dictionary %s: %w", path, err)
			}
			if n == 0 {
				return corrupt(off, "unreadable header record (%v)", err)
			}
			if q, ok := recordAfter(data, off); ok {
				return corrupt(off, "record fails its checksum or framing (%v), yet a valid record follows at offset %d", err, q)
			}
			// What a crash mid-append leaves: the record was never
			// acknowledged, so dropping it loses nothing (tikv#9886).
			d.opts.Logger.Warn("engine: dropped a torn record at the end of the file dictionary",
				"log", path, "offset", off, "bytes", int64(len(data))-off, "err", err)
			d.needRewrite = true
			return nil
		}
		if n == 0 {
			h, err := decodeHeader(rec.Bytes())
			if err != nil {
				return corrupt(off, "%v", err)
			}
			d.header = h
			// Growing a map of 100,000 entries costs more than reading
			// them; a lying header cannot make it bigger than the log.
			d.state.entries = make(map[string]entry, min(h.entries, uint64(len(data)/minPutLen)))
			continue
		}
		var kind byte
		kind, ops, err = decodeRecord(rec.Bytes(), ops[:0])
		if err != nil {
			return corrupt(off, "%v", err)
		}
		for _, op := range ops {
			d.state.apply(op)
		}
		if kind == recUpdate {
			d.appended++
		}
	}
}

// reconcile undoes the moves whose rename did not happen and drops the
// entries of files that no longer exist. It lists each directory holding an
// entry once rather than statting every file, and looks the listed names up
// in the map: when every file is there, as after a clean shutdown, that is
// all it does. A missing directory proves nothing: its entries and the
// moves from it stay (missingdirs.go).
func (d *dictionary) reconcile(path string) error {
	type dirState struct {
		names   []string            // nil if the directory is gone
		set     map[string]struct{} // names, built only if needed
		entries int                 // entries in the directory
		missing bool                // its files cannot be judged: see listEntryDir
	}
	// First, as the last change the log records: see dirmove.go.
	if err := d.reconcileDirMove(path); err != nil {
		return err
	}
	dirs := make(map[string]*dirState)
	for rel := range d.state.entries {
		dirs[splitRel(rel)] = nil
	}
	for _, m := range d.state.pending {
		dirs[splitRel(m.from)] = nil
	}
	var missingDirs []string
	for rdir := range dirs {
		if isExt(rdir) {
			// Outside the store: judged when Pebble names it (extdir.go).
			dirs[rdir] = &dirState{missing: true}
			continue
		}
		names, missing, err := d.listEntryDir(rdir)
		if err != nil {
			return fmt.Errorf("engine: file dictionary %s: listing %s: %w", path, rdir, err)
		}
		dirs[rdir] = &dirState{names: names, missing: missing}
		if missing {
			missingDirs = append(missingDirs, rdir)
		}
	}
	exists := func(rel string) bool {
		ds := dirs[splitRel(rel)]
		if ds.set == nil {
			ds.set = make(map[string]struct{}, len(ds.names))
			for _, n := range ds.names {
				ds.set[n] = struct{}{}
			}
		}
		_, ok := ds.set[rel[strings.LastIndexByte(rel, '/')+1:]]
		return ok
	}
	// hide takes rel out of the listing: a name start removes.
	hide := func(rel string) {
		exists(rel) // builds the set
		ds, base := dirs[splitRel(rel)], rel[strings.LastIndexByte(rel, '/')+1:]
		delete(ds.set, base)
		ds.names = slices.DeleteFunc(ds.names, func(n string) bool { return n == base })
	}

	undone := 0
	for p, m := range d.state.pending {
		if p != m.from {
			continue // each move once, by its source
		}
		if dirs[splitRel(m.from)].missing {
			continue // cannot be judged yet: it stays pending
		}
		ghost := false
		if exists(m.from) && exists(m.to) {
			var err error
			if ghost, err = m.keptBothNames(d.fs, d.fs.PathJoin(d.dir, m.from), d.fs.PathJoin(d.dir, m.to)); err != nil {
				return fmt.Errorf("engine: file dictionary %s: judging the rename of %s to %s: %w", path, m.from, m.to, err)
			}
		}
		switch {
		case ghost:
			// Both names hold the moved bytes: the rename happened, and
			// the crash lost only the source's removal (a directory's
			// entries may survive one by one). start removes the source.
			d.leftovers = append(d.leftovers, m.from)
			hide(m.from)
			fallthrough
		case !exists(m.from):
			// The rename happened, as far as the listing shows; start
			// makes it durable before the log may stop saying pending.
			d.settledDirs = append(d.settledDirs, splitRel(m.from), splitRel(m.to))
			d.judged = append(d.judged, m.to)
		default:
			// The source is still there, and not as a copy of the
			// destination: the rename never happened.
			d.state.undo(m)
			undone++
		}
		d.state.settle(p)
	}

	for rel := range d.state.entries {
		dirs[splitRel(rel)].entries++
	}
	collected := 0
	for rdir, ds := range dirs {
		found := 0
		for _, n := range ds.names {
			rel := n
			if rdir != "." {
				rel = rdir + "/" + n
			}
			if _, ok := d.state.entries[rel]; ok {
				found++
			}
		}
		if found == ds.entries || ds.missing {
			continue
		}
		for rel := range d.state.entries {
			if splitRel(rel) == rdir && !exists(rel) && d.state.pending[rel] == nil {
				d.state.del(rel)
				collected++
			}
		}
	}
	if undone > 0 {
		d.opts.Logger.Info("engine: file dictionary: undid moves whose rename did not happen", "log", path, "moves", undone)
	}
	if collected > 0 {
		d.opts.Logger.Info("engine: file dictionary: dropped entries of files that no longer exist", "log", path, "entries", collected)
	}
	d.warnMissingDirs(path, missingDirs)
	if d.state.epoch != nil {
		var names []string
		if ds := dirs["."]; ds != nil {
			names = ds.names
		} else {
			var err error
			if names, err = d.fs.List(d.dir); err != nil {
				return fmt.Errorf("engine: file dictionary %s: listing the store directory: %w", path, err)
			}
		}
		if err := d.recoverEpoch(path, names); err != nil {
			return err
		}
	}
	d.needRewrite = d.needRewrite || undone > 0 || collected > 0
	return nil
}

// splitRel returns the directory part of a slash-separated relative path,
// "." for a file directly in the store directory.
func splitRel(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "."
	}
	return rel[:i]
}

// listEntryDir lists the directory rdir (relative to the store directory)
// for reconcile. missing reports a directory that does not exist or is not
// a directory. Any other failure (a directory that cannot be read) is an
// error: the open fails, naming it, and nothing is dropped.
func (d *dictionary) listEntryDir(rdir string) (names []string, missing bool, err error) {
	full := d.fs.PathJoin(d.dir, rdir)
	names, err = d.fs.List(full)
	if err == nil && len(names) > 0 {
		return names, false, nil
	}
	// Gone, not a directory (some filesystems list a regular file as
	// empty), or unreadable: only a directory that exists proves its files
	// gone.
	fi, serr := d.fs.Stat(full)
	switch {
	case serr == nil && fi.IsDir():
		if err != nil {
			return nil, false, err // it exists, yet could not be listed
		}
		return names, false, nil
	case serr == nil, oserror.IsNotExist(serr), errors.Is(serr, syscall.ENOTDIR):
		return nil, true, nil
	default:
		return nil, false, serr
	}
}

// warnMissingDirs logs the entries and pending moves reconcile kept because
// their directory is missing.
func (d *dictionary) warnMissingDirs(path string, dirs []string) {
	if len(dirs) == 0 {
		return
	}
	slices.Sort(dirs)
	entries, moves := 0, 0
	for rel := range d.state.entries {
		if _, ok := slices.BinarySearch(dirs, splitRel(rel)); ok {
			entries++
		}
	}
	for p, m := range d.state.pending {
		if p == m.from {
			moves++
		}
	}
	d.opts.Logger.Warn("engine: file dictionary: keeping the entries of files whose directory is missing (an unmounted volume, a directory moved away); they are checked again at the next open",
		"log", path, "dirs", dirs, "entries", entries, "pending_moves", moves)
}

// inspect makes a dictionary that will not be started report its log's
// path and size, as a started one does.
func (d *dictionary) inspect() error {
	if d.logName == "" {
		return nil
	}
	path := d.fs.PathJoin(d.dir, d.logName)
	fi, err := d.fs.Stat(path)
	if err != nil {
		return fmt.Errorf("engine: file dictionary %s: %w", path, err)
	}
	d.mu.Lock()
	d.path, d.logSize = path, fi.Size()
	d.mu.Unlock()
	return nil
}

// keptBothNames reports whether a crash kept both names of m's rename:
// from and to (names on fs) hold the same bytes. Under different
// keystreams the same plaintext never gives the same bytes, so equal bytes
// mean one file under two names: the rename happened, and the crash lost
// only the source's removal (a directory's entries may survive one by
// one). A rename between two links of one file (the same entry) leaves
// both names as POSIX says, and is not a crash's leftover. A destination
// that does not exist means the rename did not happen.
func (m *pendingMove) keptBothNames(fs vfs.FS, from, to string) (bool, error) {
	if m.hadTo && m.prevTo == m.e {
		return false, nil
	}
	same, err := sameFiles(fs, from, to)
	if oserror.IsNotExist(err) {
		return false, nil
	}
	return same, err
}

// sameFiles reports whether the files a and b (names on fs) hold the
// same bytes.
func sameFiles(fs vfs.FS, a, b string) (bool, error) {
	fa, err := fs.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := fs.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	const chunk = 64 << 10
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for off := int64(0); off < sa.Size(); off += chunk {
		n := int(min(chunk, sa.Size()-off))
		if _, err := fa.ReadAt(ba[:n], off); err != nil {
			return false, err
		}
		if _, err := fb.ReadAt(bb[:n], off); err != nil {
			return false, err
		}
		if !bytes.Equal(ba[:n], bb[:n]) {
			return false, nil
		}
	}
	return true, nil
}
