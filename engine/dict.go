package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/tde-go/tde/keys"
)

const (
	// dictMarkerName is the atomicfs marker naming the current log.
	dictMarkerName = "tde-dict"
	// dictLogPrefix starts every log's name; the marker's iteration follows.
	dictLogPrefix = "TDE-DICT-"
	// defaultRewriteThreshold is dictOptions.RewriteThreshold's default.
	defaultRewriteThreshold = 4096
	// snapshotRecordSize is about how many bytes of ops a rewrite packs into
	// one record.
	snapshotRecordSize = 32 << 10
)

// dictOptions configures a file dictionary.
type dictOptions struct {
	// RewriteThreshold: the log is rewritten when the records appended since
	// the last rewrite exceed max(RewriteThreshold, len): the log stays under
	// twice the live entries, which bounds the time to open it. 0 means 4096.
	RewriteThreshold int
	// OnWrite observes how long each synced append took; it may be nil. It
	// runs after the append, outside the dictionary's locks.
	OnWrite func(time.Duration)
	// Logger reports torn tails dropped, entries collected, moves undone and
	// failed rewrites; nil means slog.Default().
	Logger *slog.Logger
	// Dirs counts directory syncs, so a deferred removal whose directory
	// someone else synced since needs no sync of its own; nil means the
	// dictionary's own count.
	Dirs *dirSyncs
}

// maxDeferred bounds the records waiting for the next synced append; past
// it, the op that queues one more writes them all at once.
const maxDeferred = 1024

// dictionary is the file dictionary: which key and IV each file of the
// store is encrypted with, kept in an append-only log that is synced before
// the file operation it describes takes effect, except for what an epoch
// implies (epoch.go) and removals (removeLater): their records wait for the
// next synced append.
//
// Readers (get, keyInUse, len, each) take mu for reading only; writers are
// serialized by wmu, do their I/O holding wmu alone, and take mu only to
// apply a change that is already durable. So a reader never waits for the
// disk.
type dictionary struct {
	fs      vfs.FS
	dir     string
	opts    dictOptions
	existed bool // a log existed at read time

	mu      sync.RWMutex
	state   dictState // entries and keys under mu; pending under wmu
	header  dictHeader
	path    string // the current log's full path, once started
	logSize int64

	wmu         sync.Mutex
	marker      *atomicfs.Marker // nil while the directory does not exist
	logName     string           // the current log's name in dir
	file        vfs.File
	w           *record.Writer
	base        int64 // offset in file of w's first byte
	appended    int   // update records since the last rewrite
	resumeAt    int64 // where an existing, intact log's records end
	needRewrite bool  // replay dropped or changed something the log still says
	started     bool
	closed      bool
	err         error // the first failed append: the log's tail is unknown
	buf         []byte
	queued      []queuedOp      // ops not yet in the log, in order
	removed     map[string]bool // paths of queued removals, under mu as well: get hides them
}

// queuedOp is a record that waits for the next synced append. A removal's
// file is gone, and its directory must be durable (ticket) before the record
// may be; it changes the map when written. A put or move of a file created
// in the epoch changed the map when queued: a crash before it is written
// leaves the file without an entry, and the open that follows gives it the
// implied one, which is the same.
type queuedOp struct {
	op      dictOp
	ticket  uint64
	removal bool
}

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

	undone := 0
	for p, m := range d.state.pending {
		if p != m.from {
			continue // each move once, by its source
		}
		if dirs[splitRel(m.from)].missing {
			continue // cannot be judged yet: it stays pending
		}
		if exists(m.from) {
			// The source is still there: the rename never happened.
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

// created reports whether a dictionary log existed at read time.
func (d *dictionary) created() bool { return d.existed }

// strict reports the header's flag: every file of the store was written
// through tde.
func (d *dictionary) strict() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.header.strict
}

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
	}
	if err != nil {
		return err
	}
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

// get returns rel's entry; a file removed has none, even while the record
// of its removal waits.
func (d *dictionary) get(rel string) (entry, bool) {
	d.mu.RLock()
	e, ok := d.state.entries[rel]
	ok = ok && !d.removed[rel]
	d.mu.RUnlock()
	return e, ok
}

// keyInUse reports whether any entry uses the data key id, or the running
// epoch does (a crash would give files it created the key). An entry whose
// removal waits still counts: until the record is durable, a crash could
// bring the file back, and it would need the key.
func (d *dictionary) keyInUse(id uint64) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ep := d.state.epoch
	if d.state.keys[id] > 0 || ep != nil && ep.e.KeyID == id {
		return true
	}
	// A move an open may still undo gives back the entries it replaced.
	for _, m := range d.state.pending {
		if m.hadFrom && m.prevFrom.KeyID == id || m.hadTo && m.prevTo.KeyID == id {
			return true
		}
	}
	if m := d.state.dirMove; m != nil {
		for _, e := range m.prevTo {
			if e.KeyID == id {
				return true
			}
		}
	}
	return false
}

// settleDurable forgets the pending move to or from rel, whose rename the
// caller made durable: no open can undo it, so the entry it replaced no
// longer holds its key (keyInUse).
func (d *dictionary) settleDurable(rel string) {
	d.wmu.Lock()
	d.mu.Lock()
	d.state.settle(rel)
	d.mu.Unlock()
	d.wmu.Unlock()
}

// len returns the number of entries.
func (d *dictionary) len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.state.entries) - len(d.removed)
}

// encrypted returns the number of entries with an encrypting method.
func (d *dictionary) encrypted() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := len(d.state.entries) - d.state.plaintext
	for rel := range d.removed {
		if d.state.entries[rel].Method != keys.MethodPlaintext {
			n--
		}
	}
	return n
}

// each calls fn for every entry of a snapshot taken at the call, without
// holding the lock, so fn may call back into the dictionary.
func (d *dictionary) each(fn func(rel string, e entry)) {
	type kv struct {
		rel string
		e   entry
	}
	d.mu.RLock()
	all := make([]kv, 0, len(d.state.entries))
	for rel, e := range d.state.entries {
		if !d.removed[rel] {
			all = append(all, kv{rel, e})
		}
	}
	d.mu.RUnlock()
	for _, x := range all {
		fn(x.rel, x.e)
	}
}

// logPath returns the current log's full path, "" before start.
func (d *dictionary) logPath() string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.path
}

// size returns the current log's size in bytes, 0 before start.
func (d *dictionary) size() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.logSize
}

// put records that rel is (about to be) written with e. Call it before
// creating the file.
func (d *dictionary) put(rel string, e entry) error {
	if err := checkEntry(rel, e); err != nil {
		return err
	}
	return d.commit(func() (dictOp, bool) {
		return dictOp{kind: opPut, path: rel, e: e}, true
	})
}

// removeLater drops rel's entry without a sync of its own: the record waits
// for the next synced append (or flush), which first makes sure rel's
// directory is durable as of ticket (see dirSyncs), so the record never
// outlives a crash that brings the file back. Until then get hides the
// entry; a crash in between leaves an entry for a missing file, which Open
// collects. Call it after the file is removed. An error means the record
// could not be queued (the dictionary is closed or failed); Open collects
// the entry then too.
func (d *dictionary) removeLater(rel string, ticket uint64) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	if _, ok := d.state.entries[rel]; !ok || d.removed[rel] {
		return nil
	}
	d.queued = append(d.queued, queuedOp{op: dictOp{kind: opDelete, path: rel}, ticket: ticket, removal: true})
	d.mu.Lock()
	d.removed[rel] = true
	d.mu.Unlock()
	if len(d.queued) < maxDeferred {
		return nil
	}
	_, err := d.append()
	return err
}

// flush writes the records waiting for a synced append, if any, and ends
// the epoch if its key is no longer the active one, so the key can retire.
func (d *dictionary) flush(active uint64) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	var end []dictOp
	if ep := d.state.epoch; ep != nil && ep.e.KeyID != active {
		end = append(end, dictOp{kind: opEpochEnd})
	}
	if len(d.queued) == 0 && len(end) == 0 {
		return nil
	}
	if err := d.writable(); err != nil {
		return err
	}
	took, err := d.append(end...)
	if err == nil && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
	return err
}

// remove drops rel's entry. Call it after the file is removed.
func (d *dictionary) remove(rel string) error {
	return d.commit(func() (dictOp, bool) {
		_, ok := d.state.entries[rel]
		return dictOp{kind: opDelete, path: rel}, ok
	})
}

// removePrefix drops every entry under the directory dirRel, after it was
// removed with everything in it.
func (d *dictionary) removePrefix(dirRel string) error {
	if dirRel == "" {
		return errors.New("engine: file dictionary: removePrefix of an empty directory name")
	}
	return d.commit(func() (dictOp, bool) {
		prefix := dirRel + "/"
		for rel := range d.state.entries {
			if strings.HasPrefix(rel, prefix) {
				return dictOp{kind: opDeletePrefix, path: dirRel}, true
			}
		}
		return dictOp{}, false
	})
}

// move records that to gets e and from loses its entry. Call it before
// renaming from to to (e is from's entry) or reusing from as to (e is
// fresh). Until a later record mentions either path, an open that finds
// from still on disk undoes the move.
func (d *dictionary) move(from, to string, e entry) error {
	if err := checkEntry(to, e); err != nil {
		return err
	}
	if from == "" {
		return errors.New("engine: file dictionary: move from an empty path")
	}
	return d.commit(func() (dictOp, bool) {
		return dictOp{kind: opMove, path: from, to: to, e: e}, true
	})
}

func checkEntry(rel string, e entry) error {
	if rel == "" {
		return errors.New("engine: file dictionary: entry for an empty path")
	}
	if !validMethod(e.Method) {
		return fmt.Errorf("engine: file dictionary: entry for %s has unknown method %d", rel, e.Method)
	}
	return nil
}

// commit appends the op prepare returns (prepare runs under the write lock
// and may find nothing to write), syncs it, then applies it.
func (d *dictionary) commit(prepare func() (dictOp, bool)) error {
	d.wmu.Lock()
	if err := d.writable(); err != nil {
		d.wmu.Unlock()
		return err
	}
	op, ok := prepare()
	if !ok {
		d.wmu.Unlock()
		return nil
	}
	if err := checkOpPaths(op); err != nil { // never write what an open refuses
		d.wmu.Unlock()
		return err
	}
	took, err := d.append(op)
	d.wmu.Unlock()
	if err == nil && d.opts.OnWrite != nil {
		d.opts.OnWrite(took)
	}
	return err
}

func (d *dictionary) writable() error {
	switch {
	case d.closed:
		return fmt.Errorf("engine: file dictionary in %s: %w", d.dir, ErrClosed)
	case d.err != nil:
		return fmt.Errorf("engine: file dictionary refuses writes after a failure (reopen to recover): %w", d.err)
	case !d.started:
		return fmt.Errorf("engine: file dictionary in %s not started", d.dir)
	}
	return nil
}

// append writes the queued records and then own as one record and syncs
// it; only then do the removals and own change the map. The removals'
// directories are made durable first. Past the threshold it rewrites the
// log, after the record is durable, so a failed rewrite loses nothing.
func (d *dictionary) append(own ...dictOp) (time.Duration, error) {
	t0 := time.Now()
	ops := make([]dictOp, 0, len(d.queued)+len(own))
	for _, q := range d.queued {
		// A failed directory sync leaves the record unwritten and the
		// log as it was: nothing to poison.
		if q.removal {
			if err := d.opts.Dirs.ensure(splitRel(q.op.path), q.ticket); err != nil {
				return 0, fmt.Errorf("engine: file dictionary %s: syncing the directory of removed %s: %w", d.fs.PathJoin(d.dir, d.logName), q.op.path, err)
			}
		}
		ops = append(ops, q.op)
	}
	ops = append(ops, own...)
	d.buf = append(d.buf[:0], recUpdate)
	for _, o := range ops {
		d.buf = appendOp(d.buf, o)
	}
	_, err := d.w.WriteRecord(d.buf)
	if err == nil {
		err = d.w.Flush()
	}
	if err == nil {
		err = d.file.Sync()
	}
	if err != nil {
		// How much of the record reached the disk is unknown: appending
		// more could bury a torn record mid-log. A reopen recovers.
		d.err = fmt.Errorf("engine: appending to file dictionary %s: %w", d.fs.PathJoin(d.dir, d.logName), err)
		return 0, d.err
	}
	took := time.Since(t0)
	d.mu.Lock()
	for _, q := range d.queued {
		if q.removal {
			d.state.apply(q.op) // the others were applied when queued
		}
	}
	for _, o := range own {
		d.state.apply(o)
	}
	clear(d.removed)
	clear(d.queued) // drop the paths they hold
	d.queued = d.queued[:0]
	d.logSize = d.base + d.w.Size()
	n := len(d.state.entries)
	d.mu.Unlock()

	d.appended++
	if d.appended > max(d.opts.RewriteThreshold, n) {
		if err := d.rewrite(); err != nil {
			d.opts.Logger.Error("engine: rewriting the file dictionary failed; the old log stays current", "err", err)
			d.appended = 0 // try again after as many appends
		}
	}
	return took, nil
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

// dictState is the dictionary's map, its per-key counts, and the moves that
// an open could still undo.
type dictState struct {
	entries   map[string]entry
	keys      map[uint64]int          // entries per key id, so keyInUse is O(1)
	plaintext int                     // entries with keys.MethodPlaintext
	pending   map[string]*pendingMove // by source and by destination
	uncounted bool                    // keys and plaintext are stale (replay)
	// epoch is the running epoch, nil if none. After replay it is one a
	// crash interrupted, until reconcile gives its files their entries.
	epoch *dictEpoch
	// dirMove is the directory rename not yet settled, nil if none
	// (dirmove.go).
	dirMove *pendingDirMove
}

// pendingMove is a move that no later record has mentioned either path of:
// if its source is found on disk at open, the rename did not happen.
type pendingMove struct {
	from, to         string
	e                entry
	prevFrom, prevTo entry
	hadFrom, hadTo   bool
}

func newDictState() dictState {
	return dictState{
		entries: make(map[string]entry),
		keys:    make(map[uint64]int),
		pending: make(map[string]*pendingMove),
	}
}

func (s *dictState) apply(op dictOp) {
	switch op.kind {
	case opPut:
		s.settle(op.path)
		s.set(op.path, op.e)
	case opDelete:
		s.settle(op.path)
		s.del(op.path)
	case opDeletePrefix:
		prefix := op.path + "/"
		for p := range s.pending {
			if strings.HasPrefix(p, prefix) {
				s.settle(p)
			}
		}
		for p := range s.entries {
			if strings.HasPrefix(p, prefix) {
				s.del(p)
			}
		}
	case opMove:
		s.settle(op.path)
		s.settle(op.to)
		m := &pendingMove{from: op.path, to: op.to, e: op.e}
		m.prevFrom, m.hadFrom = s.entries[op.path]
		m.prevTo, m.hadTo = s.entries[op.to]
		s.del(op.path)
		s.set(op.to, op.e)
		s.pending[op.path] = m
		s.pending[op.to] = m
	case opEpoch:
		s.epoch = newEpoch(op)
	case opEpochEnd:
		s.epoch = nil
	case opExclude:
		if s.epoch != nil {
			s.epoch.excluded[op.path] = true
		}
	case opMovePrefix:
		s.movePrefix(op.path, op.to)
	case opSettle:
		s.settleDirMove(op.path, op.to)
	}
}

// settle forgets the pending move mentioning p, if any: a later record
// about either of its paths means the rename happened.
func (s *dictState) settle(p string) {
	if m := s.pending[p]; m != nil {
		delete(s.pending, m.from)
		delete(s.pending, m.to)
	}
}

// undo restores both paths of m as they were before it.
func (s *dictState) undo(m *pendingMove) {
	if m.hadTo {
		s.set(m.to, m.prevTo)
	} else {
		s.del(m.to)
	}
	if m.hadFrom {
		s.set(m.from, m.prevFrom)
	} else {
		s.del(m.from)
	}
}

func (s *dictState) set(p string, e entry) {
	if s.uncounted {
		s.entries[p] = e
		return
	}
	if old, ok := s.entries[p]; ok {
		s.unref(old)
	}
	s.entries[p] = e
	s.ref(e)
}

func (s *dictState) del(p string) {
	if s.uncounted {
		delete(s.entries, p)
		return
	}
	if old, ok := s.entries[p]; ok {
		s.unref(old)
		delete(s.entries, p)
	}
}

// recount makes the per-key counts from the entries.
func (s *dictState) recount() {
	clear(s.keys)
	s.plaintext = 0
	for _, e := range s.entries {
		s.ref(e)
	}
	s.uncounted = false
}

func (s *dictState) ref(e entry) {
	s.keys[e.KeyID]++
	if e.Method == keys.MethodPlaintext {
		s.plaintext++
	}
}

func (s *dictState) unref(e entry) {
	if s.keys[e.KeyID]--; s.keys[e.KeyID] <= 0 {
		delete(s.keys, e.KeyID)
	}
	if e.Method == keys.MethodPlaintext {
		s.plaintext--
	}
}

// Record framing, used only to tell a torn tail from corruption.
const (
	blockSize       = 32 << 10 // record's block size
	chunkHeaderSize = 7        // checksum u32 | length u16 | type u8 (legacy chunks)
	fullChunk       = 1
	firstChunk      = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordStart returns where the record that starts at or after off begins:
// a block's last few bytes, too short for a chunk header, are padding.
func recordStart(off int64) int64 {
	if rest := blockSize - off%blockSize; rest < chunkHeaderSize {
		return off + rest
	}
	return off
}

// recordAfter reports whether a record starts anywhere after off in data:
// a full or first chunk that fits its block and passes its checksum.
//
// An append is synced before the next begins, so a crash leaves at most one
// record unsynced, at the end; the disk may have kept any part of it, in
// any order, zeros standing in for the rest. A bad record that a valid one
// follows was synced, and is corruption. A bad record followed by anything
// else (nothing, zeros, fragments of itself) is a torn tail.
func recordAfter(data []byte, off int64) (int64, bool) {
	// Most likely, only the payload of the bad record is damaged and its
	// header says where the next one starts.
	if off+chunkHeaderSize <= int64(len(data)) {
		next := recordStart(off + chunkHeaderSize + int64(binary.LittleEndian.Uint16(data[off+4:])))
		if validChunkAt(data, next) {
			return next, true
		}
	}
	for q := off + 1; q+chunkHeaderSize <= int64(len(data)); q++ {
		if validChunkAt(data, q) {
			return q, true
		}
	}
	return 0, false
}

// validChunkAt reports whether a full or first chunk with a good checksum
// starts at q.
func validChunkAt(data []byte, q int64) bool {
	if q < 0 || q+chunkHeaderSize > int64(len(data)) {
		return false
	}
	h := data[q : q+chunkHeaderSize]
	if t := h[6]; t != fullChunk && t != firstChunk {
		return false
	}
	end := q + chunkHeaderSize + int64(binary.LittleEndian.Uint16(h[4:]))
	if end > int64(len(data)) || q%blockSize+(end-q) > blockSize {
		return false
	}
	c := crc32.Checksum(data[q+6:end], castagnoli)
	return binary.LittleEndian.Uint32(h) == (c>>15|c<<17)+0xa282ead8
}
