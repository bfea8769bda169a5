package engine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/tde-go/tde/keys"

	"github.com/cockroachdb/pebble/v2/record"
)

// The log's life: started (new or resumed), appended to, rewritten into a
// new log past a threshold and switched to with the atomicfs marker, and
// closed.

// start makes the dictionary writable. It creates the first log (recording
// strict) if there was none; it rewrites the log if replay dropped a torn
// tail (appending after it would bury garbage mid-log), collected entries or
// undid moves (the log still records what replay reversed); otherwise it
// appends to the existing log. Leftovers of interrupted rewrites are removed.
func (d *dictionary) start(strict bool) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	switch {
	case d.closed:
		return fmt.Errorf("engine: file dictionary in %s: %w", d.dir, ErrClosed)
	case d.started:
		return fmt.Errorf("engine: file dictionary in %s already started", d.dir)
	}
	if d.marker == nil {
		marker, name, err := atomicfs.LocateMarker(d.fs, d.dir, dictMarkerName)
		if err != nil {
			return fmt.Errorf("engine: locating the file dictionary in %s: %w", d.dir, err)
		}
		if name != "" {
			marker.Close()
			return fmt.Errorf("engine: a file dictionary appeared in %s after it was read", d.dir)
		}
		if err := lostDictionary(d.fs, d.dir); err != nil {
			marker.Close()
			return err
		}
		d.marker = marker
	}
	if err := d.removeLeftovers(); err != nil {
		return err
	}
	if err := d.syncSettledDirs(); err != nil {
		return err
	}
	if !d.existed || d.needRewrite {
		if err := d.removeStaleLogs(); err != nil {
			return err
		}
	}
	var err error
	switch {
	case !d.existed:
		d.mu.Lock()
		d.header = dictHeader{strict: strict, created: time.Now()}
		d.mu.Unlock()
		err = d.rewrite()
	case d.needRewrite:
		err = d.rewrite()
	default:
		err = d.resume()
		if err == nil {
			err = d.settleJudged()
		}
	}
	if err != nil {
		return err
	}
	d.judged = nil
	d.started = true
	d.removeObsolete()
	return nil
}

// resume opens the existing log for appending where its records end.
func (d *dictionary) resume() error {
	path := d.fs.PathJoin(d.dir, d.logName)
	f, err := d.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("engine: opening file dictionary %s for appending: %w", path, err)
	}
	// A record.Writer lays out 32 KiB blocks from where it starts. To carry
	// on mid-block, give it a placeholder record covering the block's used
	// part and drop those bytes on their way to the file. (A record ends at
	// least a chunk header into its block.)
	inBlock := int(d.resumeAt % blockSize)
	lw := &offsetWriter{f: f, off: d.resumeAt - int64(inBlock), skip: inBlock}
	w := record.NewWriter(lw)
	if inBlock > 0 {
		if _, err := w.WriteRecord(make([]byte, inBlock-chunkHeaderSize)); err != nil {
			f.Close()
			return fmt.Errorf("engine: file dictionary %s: %w", path, err)
		}
	}
	d.file, d.w, d.base = f, w, d.resumeAt-int64(inBlock)
	d.mu.Lock()
	d.path, d.logSize = path, d.resumeAt
	d.mu.Unlock()
	return nil
}

// offsetWriter writes sequentially with WriteAt (a file opened with
// OpenReadWrite starts at offset 0), after discarding the first skip bytes.
type offsetWriter struct {
	f    vfs.File
	off  int64
	skip int
}

func (w *offsetWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.skip > 0 {
		k := min(w.skip, len(p))
		w.skip -= k
		w.off += int64(k)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	m, err := w.f.WriteAt(p, w.off)
	w.off += int64(m)
	if err != nil {
		return n - len(p) + m, err
	}
	return n, nil
}

// rewrite writes every live entry (and every move still pending) into a
// new log, makes it durable, moves the marker to it and removes the old
// one. A crash at any point leaves the old log or the new one current, both
// complete. If it fails before the marker moves, the old log stays current
// and usable; if the marker move fails, either log may be current and the
// dictionary refuses further writes.
func (d *dictionary) rewrite() error {
	name := fmt.Sprintf("%s%06d", dictLogPrefix, d.marker.NextIter())
	path := d.fs.PathJoin(d.dir, name)
	if err := d.freshLogName(path); err != nil {
		return err
	}
	f, err := d.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("engine: creating file dictionary %s: %w", path, err)
	}
	w := record.NewWriter(f)
	err = d.writeSnapshot(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = d.opts.Dirs.sync(".") // the log's name must be durable before the marker names it
	}
	if err != nil {
		f.Close()
		if rmErr := d.fs.Remove(path); rmErr != nil {
			d.opts.Logger.Warn("engine: removing an unfinished file dictionary", "log", path, "err", rmErr)
		}
		return fmt.Errorf("engine: writing file dictionary %s: %w", path, err)
	}
	if err := d.moveMarker(name); err != nil {
		f.Close()
		d.err = fmt.Errorf("engine: switching the file dictionary to %s (either log may now be current): %w", path, err)
		return d.err
	}

	oldFile, oldName := d.file, d.logName
	d.file, d.w, d.base, d.logName, d.appended = f, w, 0, name, 0
	d.mu.Lock()
	d.path, d.logSize = path, w.Size()
	d.mu.Unlock()
	if oldFile != nil {
		oldFile.Close()
	}
	if oldName != "" {
		if err := d.fs.Remove(d.fs.PathJoin(d.dir, oldName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.opts.Logger.Warn("engine: removing the previous file dictionary", "log", oldName, "err", err)
		}
	}
	return nil
}

// writeSnapshot writes the header and the live state, many ops a record.
func (d *dictionary) writeSnapshot(w *record.Writer) error {
	d.mu.RLock()
	h := d.header
	d.mu.RUnlock()
	h.entries = uint64(len(d.state.entries))
	b := appendHeader(d.buf[:0], h)
	if _, err := w.WriteRecord(b); err != nil {
		return err
	}
	b = append(b[:0], recSnapshot)
	flush := func(force bool) error {
		if len(b) == 1 || (!force && len(b) < snapshotRecordSize) {
			return nil
		}
		_, err := w.WriteRecord(b)
		b = b[:1]
		return err
	}
	// Writers hold wmu, so the map cannot change under us.
	s := &d.state
	for rel, e := range s.entries {
		if m := s.pending[rel]; m != nil && rel == m.to {
			continue // written with its move below
		}
		// An entry a pending directory move re-keyed goes under its old
		// name; the move follows below.
		rel = s.dirMove.before(rel)
		b = appendOp(b, dictOp{kind: opPut, path: rel, e: e})
		if err := flush(false); err != nil {
			return err
		}
	}
	for p, m := range s.pending {
		if p != m.from {
			continue
		}
		if m.hadFrom {
			b = appendOp(b, dictOp{kind: opPut, path: m.from, e: m.prevFrom})
		}
		if m.hadTo {
			b = appendOp(b, dictOp{kind: opPut, path: m.to, e: m.prevTo})
		}
		b = appendOp(b, dictOp{kind: opMove, path: m.from, to: m.to, e: m.e})
		if err := flush(false); err != nil {
			return err
		}
	}
	for _, op := range s.dirMove.ops() {
		b = appendOp(b, op)
		if err := flush(false); err != nil {
			return err
		}
	}
	if ep := s.epoch; ep != nil {
		b = appendOp(b, ep.op())
	}
	err := flush(true)
	d.buf = b[:0]
	return err
}

// moveMarker moves the marker to name. atomicfs panics if syncing the
// directory fails (the marker's state is then unknown); that is an error
// here, which stops further writes, not a crash of the process.
func (d *dictionary) moveMarker(name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if _, isRuntime := r.(runtime.Error); !ok || isRuntime {
				panic(r)
			}
			err = e
		}
	}()
	return d.marker.Move(name)
}

// removeObsolete removes old markers and logs that a crash left behind.
// Failing to is harmless: the next start tries again.
func (d *dictionary) removeObsolete() {
	if err := d.marker.RemoveObsolete(); err != nil {
		d.opts.Logger.Warn("engine: removing obsolete file dictionary markers", "dir", d.dir, "err", err)
	}
	names, err := d.fs.List(d.dir)
	if err != nil {
		d.opts.Logger.Warn("engine: listing obsolete file dictionaries", "dir", d.dir, "err", err)
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, dictLogPrefix) && n != d.logName {
			if err := d.fs.Remove(d.fs.PathJoin(d.dir, n)); err != nil {
				d.opts.Logger.Warn("engine: removing an obsolete file dictionary", "log", n, "err", err)
			}
		}
	}
}

// close writes the queued records, ends the epoch and closes the log.
// Reads keep working; writes fail.
func (d *dictionary) close() error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed {
		return nil
	}
	var errs []error
	if (len(d.queued) > 0 || d.state.epoch != nil) && d.writable() == nil {
		var end []dictOp
		if d.state.epoch != nil {
			end = append(end, dictOp{kind: opEpochEnd})
		}
		if _, err := d.append(end...); err != nil {
			// Open collects the entries of removed files and gives
			// the epoch's files theirs.
			d.opts.Logger.Warn("engine: file dictionary: cannot record the last changes; the next open will", "log", d.logName, "records", len(d.queued), "err", err)
		}
	}
	d.closed = true
	if d.file != nil {
		errs = append(errs, d.file.Close())
	}
	if d.marker != nil {
		errs = append(errs, d.marker.Close())
	}
	return errors.Join(errs...)
}

// needsKeys reports whether an entry or the epoch names a data key.
func (d *dictionary) needsKeys() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.state.entries) > d.state.plaintext || d.state.epoch != nil && d.state.epoch.e.Method != keys.MethodPlaintext
}

// freshLogName refuses the name of a new dictionary log if a file has it:
// creating it would truncate a log, perhaps one still needed.
func (d *dictionary) freshLogName(path string) error {
	_, err := d.fs.Stat(path)
	switch {
	case err == nil:
		return &PathError{Op: "create file dictionary", Path: path, Err: fmt.Errorf("a file of that name exists, and a dictionary log's name is never reused: %w", os.ErrExist)}
	case oserror.IsNotExist(err):
		return nil
	default:
		return fmt.Errorf("engine: creating file dictionary %s: %w", path, err)
	}
}

// removeStaleLogs removes every dictionary log but the current one before
// start writes a new one: a rewrite that crashed left one, perhaps under
// the name the new log takes; a log without a marker is one readDictionary
// found holds nothing.
func (d *dictionary) removeStaleLogs() error {
	names, err := d.fs.List(d.dir)
	if err != nil {
		return fmt.Errorf("engine: listing %s: %w", d.dir, err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, dictLogPrefix) && n != d.logName {
			if err := d.fs.Remove(d.fs.PathJoin(d.dir, n)); err != nil && !oserror.IsNotExist(err) {
				return fmt.Errorf("engine: removing stale file dictionary %s: %w", n, err)
			}
		}
	}
	return nil
}

// removeLeftovers removes the source names of renames a crash kept under
// both names, before syncSettledDirs makes their removal durable.
func (d *dictionary) removeLeftovers() error {
	for _, rel := range d.leftovers {
		if err := d.fs.Remove(d.fs.PathJoin(d.dir, rel)); err != nil && !oserror.IsNotExist(err) {
			return fmt.Errorf("engine: file dictionary %s: removing %s, left by a rename a crash interrupted: %w", d.dir, rel, err)
		}
	}
	if len(d.leftovers) > 0 {
		d.opts.Logger.Info("engine: file dictionary: removed the old names of renames a crash kept under both names", "dir", d.dir, "files", d.leftovers)
	}
	d.leftovers = nil
	return nil
}

// settleJudged appends, to a log start resumes, a record naming the
// destination of each move reconcile took as done: in the log they are
// still pending, and a crash after their source's name is used again
// (Reencrypt's next copy) would make an open undo them. A rewrite needs
// none: it writes no settled move.
func (d *dictionary) settleJudged() error {
	var ops []dictOp
	for _, to := range d.judged {
		if e, ok := d.state.entries[to]; ok && d.state.pending[to] == nil {
			ops = append(ops, dictOp{kind: opPut, path: to, e: e})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := d.append(ops...)
	return err
}

// syncSettledDirs makes durable the renames reconcile judged done by their
// source's absence: until a directory sync, a crash may still bring the
// source back, and the entry would then be only under the new name.
func (d *dictionary) syncSettledDirs() error {
	done := map[string]bool{}
	for _, rdir := range d.settledDirs {
		if done[rdir] || isExt(rdir) {
			continue // a directory outside the store is settled when seen
		}
		done[rdir] = true
		if err := d.opts.Dirs.sync(rdir); err != nil && !oserror.IsNotExist(err) {
			return fmt.Errorf("engine: file dictionary %s: syncing %s, where a rename was found done: %w", d.dir, rdir, err)
		}
	}
	d.settledDirs = nil
	return nil
}
