package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/secmem"
	"github.com/tde-go/tde/keys"
)

// FS is an encrypting vfs.FS. Set it as pebble.Options.FS; every file the
// store creates through it is encrypted. Close it after the DB.
type FS struct {
	base vfs.FS
	dir  string
	cfg  Config
	log  *slog.Logger

	lock io.Closer // TDE-LOCK: one FS per store directory at a time

	release func() // gives back the store's identity (storeid.go)

	reg  *keys.Registry
	dict *dictionary
	keys *keyCache
	dirs *dirSyncs // every directory sync through the FS, Pebble's included

	ckpts checkpoints // directories to export as stores: checkpoint.go
	ext   extDirs     // directories outside the store: extdir.go

	master      keys.MasterKey
	masterOwned bool
	masterMu    sync.Mutex // serializes master-key rotation

	paths pathLocks
	// noEntry orders the changes that leave a name of the store directory
	// without an entry (rename or link of a file that has none, a lock
	// file: read-locked from the exclusion to the change) against the
	// start of an epoch (write-locked), whose record lists such names.
	noEntry   sync.RWMutex
	openFiles atomic.Int64
	// writers counts the files open for writing, by path, so Reencrypt
	// leaves alone a table Pebble is still writing.
	writersMu sync.Mutex
	writers   map[string]int
	written   writtenSets // what each keystream open for writing has encrypted
	stats     [keys.MethodSM4CTR + 1]methodStats
	metrics   *metrics

	stop    chan struct{}
	loop    sync.WaitGroup
	closeMu sync.Mutex
	closed  atomic.Bool
	ops     sync.RWMutex // in-flight operations against Close: inflight.go
}

// methodStats counts bytes through the kernels of one method, padded to a
// cache line so files of different methods do not contend.
type methodStats struct {
	encrypted atomic.Uint64
	decrypted atomic.Uint64
	_         [48]byte
}

var _ vfs.FS = (*FS)(nil)

// Open opens (or, the first time, sets up) encryption for the store in dir
// on base, and returns the FS to give Pebble. dir is created if missing.
//
// Nothing in dir changes if Open fails before the key registry is opened,
// which is where every check of bad input happens: a wrong or missing
// master key, a damaged registry or dictionary, an unusable setting, lost
// metadata (failclosed.go). Only a new store's empty dictionary comes
// before the registry.
func Open(base vfs.FS, dir string, cfg Config) (*FS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		return openReadOnly(base, dir, cfg)
	}
	ctx := context.Background()
	f := newFS(base, dir, cfg)
	if cfg.StorePath != "" && !samePath(cfg.StorePath, f.dir) {
		f.log.Warn("tde: the configuration names another store path than the one opened", "config", cfg.StorePath, "opened", f.dir)
	}
	ok := false
	defer func() {
		if !ok {
			f.abandon()
		}
	}()

	// The master key first, before anything is created: a store's first
	// start with its KMS down must leave nothing behind (tikv#9488).
	protected := f.mayHoldKeys()
	if protected {
		f.protectProcess() // before the first key byte is read
	}
	prev, closePrev, err := f.loadMasterKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer closePrev() // needed only to rewrap the registry at open
	if err := f.proveNewMasterKey(ctx); err != nil {
		return nil, err
	}

	if err := base.MkdirAll(f.dir, 0o755); err != nil {
		return nil, err
	}
	// Before the lock, which this process would get again (storeid.go).
	release, err := claimStore(base, f.dir, dir)
	if err != nil {
		return nil, err
	}
	f.release = release
	// Read-only, before the lock call (which may create its file): a store
	// that lost its dictionary is refused with every byte unchanged.
	if err := checkMetadata(base, f.dir); err != nil {
		return nil, err
	}
	lock, err := base.Lock(base.PathJoin(f.dir, lockFile))
	if err != nil {
		return nil, lockFailed(f.dir, base.PathJoin(f.dir, lockFile), err)
	}
	f.lock = lock

	f.metrics = newMetrics(f)
	start := time.Now()
	f.dict, err = readDictionary(privateFS(base), f.dir, dictOptions{
		RewriteThreshold: cfg.DictionaryRewriteThreshold,
		OnWrite:          f.metrics.observeDictWrite,
		Logger:           f.log,
		Dirs:             f.dirs,
	})
	if err != nil {
		return nil, err
	}
	f.metrics.observeDictRead(time.Since(start))
	if err := f.refuseUnapproved(); err != nil { // fips.go
		return nil, err
	}
	if err := f.checkRegistry(); err != nil {
		return nil, err
	}
	// A store is strict (every file must have an entry) if tde was there
	// from its first file; a store with files and no dictionary was
	// plaintext before, and its old files stay readable as such.
	newDict := !f.dict.created()
	if newDict {
		strict, err := f.emptyStore()
		if err != nil {
			return nil, err
		}
		// Before the registry: a registry without a dictionary is then
		// always a lost dictionary (failclosed.go).
		if err := f.dict.start(strict); err != nil {
			return nil, err
		}
	}

	f.reg, err = keys.OpenRegistry(ctx, f.keysFS(), f.dir, f.registryConfig(prev))
	if err != nil {
		return nil, err
	}
	if !newDict {
		if err := f.dict.start(false); err != nil {
			return nil, err
		}
	}
	f.keys = newKeyCache(f.reg)
	if err := f.removeReencryptLeftovers(); err != nil {
		return nil, err
	}
	if _, err := f.retain(ctx); err != nil {
		return nil, err
	}
	if !protected && len(f.reg.Keys()) > 0 {
		f.protectProcess()
	}
	warnKeyMemory(f.log, secmem.Status(), &keyMemoryWarned)
	f.warnPlaintext()
	if err := f.metrics.register(cfg.Metrics); err != nil {
		return nil, err
	}
	f.loop.Add(1)
	go f.rotationLoop()
	ok = true
	return f, nil
}

// newFS is the FS of Open and openReadOnly before anything is opened.
func newFS(base vfs.FS, dir string, cfg Config) *FS {
	f := &FS{base: base, dir: filepath.Clean(dir), cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), writers: map[string]int{}}
	f.dirs = newDirSyncs(base, f.dir)
	f.dirs.resolve = f.dirPath
	if f.log == nil {
		f.log = slog.Default()
	}
	f.paths.seed = maphash.MakeSeed()
	return f
}

// loadMasterKeys loads the master key into f and returns the previous one
// (nil if none is configured), with the func that closes it if it was
// loaded here: only the registry's opening needs it.
func (f *FS) loadMasterKeys(ctx context.Context) (keys.MasterKey, func(), error) {
	var err error
	f.master, f.masterOwned, err = f.cfg.MasterKey.load(ctx, f.cfg.AllowLooseKeyPermissions)
	if err != nil {
		return nil, nil, err
	}
	if !f.cfg.PreviousMasterKey.isSet() {
		return nil, func() {}, nil
	}
	prev, owned, err := f.cfg.PreviousMasterKey.loadAs(ctx, "PreviousMasterKey", f.cfg.AllowLooseKeyPermissions)
	if err != nil {
		return nil, nil, err
	}
	if !owned {
		return prev, func() {}, nil
	}
	return prev, func() { prev.Close() }, nil
}

// proveNewMasterKey wraps nothing with the master key if dir has no key
// registry yet, so that a key that cannot wrap (a KMS down, a key
// disabled or unknown) fails the open before it creates anything. A KMS
// key caches the data key it asks for, which the registry then uses: no
// extra call. A store with a registry proves its key by opening it.
func (f *FS) proveNewMasterKey(ctx context.Context) error {
	_, err := f.base.Stat(f.base.PathJoin(f.dir, keys.RegistryFile))
	if !oserror.IsNotExist(err) {
		return nil
	}
	_, err = f.master.Wrap(ctx, nil, []byte("tde: master key check"))
	return err
}

// registryConfig is the registry's configuration from f's, with the
// previous master key prev; read-only when f is.
func (f *FS) registryConfig(prev keys.MasterKey) keys.RegistryConfig {
	return keys.RegistryConfig{
		Master:         f.master,
		Previous:       prev,
		Method:         f.cfg.Method,
		RotationPeriod: f.cfg.RotationPeriod,
		Now:            f.cfg.Now,
		Logger:         f.log,
		ReadOnly:       f.cfg.ReadOnly,
	}
}

// samePath compares two directory names as absolute paths.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// emptyStore reports whether dir holds nothing but tde's own files.
func (f *FS) emptyStore() (bool, error) {
	names, err := f.base.List(f.dir)
	if err != nil {
		return false, err
	}
	for _, n := range names {
		if !reserved(n) {
			return false, nil
		}
	}
	return true, nil
}

// warnPlaintext says what a plaintext setting leaves exposed.
func (f *FS) warnPlaintext() {
	if f.cfg.Method != keys.MethodPlaintext {
		return
	}
	older := 0
	f.dict.each(func(_ string, e entry) {
		if e.Method != keys.MethodPlaintext {
			older++
		}
	})
	if older > 0 {
		f.log.Warn("tde: the data encryption method is plaintext: new files are written unencrypted, and files encrypted before stay so until re-encrypted (tdectl reencrypt)", "encrypted_files", older)
	}
}

// abandon releases what a failed Open acquired.
func (f *FS) abandon() {
	if f.dict != nil {
		f.dict.close()
	}
	if f.keys != nil {
		f.keys.destroy()
	}
	if f.reg != nil {
		f.reg.Close()
	}
	if f.master != nil && f.masterOwned {
		f.master.Close()
	}
	if f.lock != nil {
		f.lock.Close()
	}
	if f.release != nil {
		f.release() // after the lock: a new Open must find it free
	}
}

// Close stops key rotation, wipes every key from memory and releases the
// store. Close the Pebble DB first: Close fails with ErrFilesOpen while any
// file of the FS is open, and changes nothing then.
func (f *FS) Close() error {
	f.closeMu.Lock()
	defer f.closeMu.Unlock()
	f.ops.Lock() // waits for operations in flight; see inflight.go
	defer f.ops.Unlock()
	if f.closed.Load() {
		return nil
	}
	if n := f.openFiles.Load(); n > 0 {
		return fmt.Errorf("%w: %d files of %s", ErrFilesOpen, n, f.dir)
	}
	f.closed.Store(true)
	close(f.stop)
	f.loop.Wait()
	f.metrics.unregister()
	err := f.dict.close()
	f.keys.destroy()
	f.reg.Close()
	if f.masterOwned {
		f.master.Close()
	}
	if lerr := f.lock.Close(); err == nil {
		err = lerr
	}
	if f.release != nil {
		f.release()
	}
	return err
}

// newEntry picks the active data key and a fresh random IV for a new file,
// and returns the key's cipher with a reference held (nil for plaintext).
func (f *FS) newEntry() (entry, *keyCipher, error) {
	for {
		dk := f.reg.Active()
		if dk.ID() == 0 {
			return entry{Method: keys.MethodPlaintext}, nil, nil
		}
		kc, err := f.keys.acquire(dk.ID())
		if errors.Is(err, keys.ErrKeyNotFound) {
			continue // rotated and retired since Active: take the new one
		}
		if err != nil {
			return entry{}, nil, err
		}
		e := entry{Method: kc.method, KeyID: kc.id}
		if _, err := rand.Read(e.IV[:]); err != nil {
			f.keys.release(kc)
			return entry{}, nil, err
		}
		return e, kc, nil
	}
}

// wrap makes the encrypting file for base file bf with entry e; kc carries
// the reference the new file takes over.
func (f *FS) wrap(bf vfs.File, name string, e entry, kc *keyCipher) *file {
	f.openFiles.Add(1)
	w := &file{File: bf, fs: f, name: name, kc: kc}
	if kc != nil {
		w.ks = kc.newKS(e.IV)
		w.stats = &f.stats[kc.method]
	}
	return w
}

// wrapWriter is wrap for a file opened for writing.
func (f *FS) wrapWriter(bf vfs.File, name, rel string, e entry, kc *keyCipher) *file {
	w := f.wrap(bf, name, e, kc)
	w.writerRel = rel
	if kc != nil {
		w.ws = f.written.acquire(ksID{kc.id, e.IV})
	}
	f.writersMu.Lock()
	f.writers[rel]++
	f.writersMu.Unlock()
	return w
}

// unwrap gives back, once w's base file is closed, what wrap and
// wrapWriter took for it: its key reference, its written set, its count
// among the writers of its path, and last its place among the open files,
// so that Close and ReencryptAll, which wait for none to be open, see the
// rest given back first.
func (f *FS) unwrap(w *file) {
	f.releaseKey(w.kc)
	if w.ws != nil {
		f.written.release(w.ws)
	}
	if w.writerRel != "" {
		f.writersMu.Lock()
		if f.writers[w.writerRel]--; f.writers[w.writerRel] <= 0 {
			delete(f.writers, w.writerRel)
		}
		f.writersMu.Unlock()
	}
	f.openFiles.Add(-1)
}

// writing reports whether rel is open for writing.
func (f *FS) writing(rel string) bool {
	f.writersMu.Lock()
	defer f.writersMu.Unlock()
	return f.writers[rel] > 0
}

// cipherFor opens the cipher of an existing entry (a reference held).
func (f *FS) cipherFor(rel string, e entry) (*keyCipher, error) {
	if e.Method == keys.MethodPlaintext {
		return nil, nil
	}
	kc, err := f.keys.acquire(e.KeyID)
	if err != nil {
		return nil, &PathError{Op: "open", Path: rel, Err: err}
	}
	if kc.method != e.Method {
		f.keys.release(kc)
		return nil, &PathError{Op: "open", Path: rel, Err: fmt.Errorf("%w: entry says %v, key %s is %v", ErrCorruptDictionary, e.Method, keys.FormatID(e.KeyID), kc.method)}
	}
	return kc, nil
}

// checkWritable checks that name may be written, and returns its
// dictionary path; a directory outside the store gets an identifier if
// it has none (extdir.go).
func (f *FS) checkWritable(op, name string) (string, error) { return f.checkName(op, name, true) }

// checkSource is checkWritable for a name an operation takes away
// (removed, renamed or linked from, reused): it gets no identifier made.
func (f *FS) checkSource(op, name string) (string, error) { return f.checkName(op, name, false) }

func (f *FS) checkName(op, name string, record bool) (string, error) {
	if f.closed.Load() {
		return "", &PathError{Op: op, Path: name, Err: ErrClosed}
	}
	if err := f.refuseReadOnly(op, name); err != nil {
		return "", err
	}
	rel, err := f.relPathFor(name, record)
	if err != nil {
		return "", err
	}
	if reserved(rel) || isExt(rel) && reserved(rel[strings.IndexByte(rel, '/')+1:]) {
		return "", &PathError{Op: op, Path: name, Err: ErrReservedName}
	}
	return rel, nil
}

// Create creates name encrypted under the active data key with a fresh IV
// (the epoch's implied one when it can: see dict_epoch.go). An existing file of
// that name is removed first, as Pebble's FS does, and its entry dropped, so
// a crash never pairs its bytes with the new entry.
func (f *FS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	defer f.inflight()()
	rel, err := f.checkWritable("create", name)
	if err != nil {
		return nil, err
	}
	l := f.paths.of(rel)
	l.Lock()
	defer l.Unlock()
	if err := f.clear(name, rel); err != nil {
		return nil, err
	}
	e, kc, err := f.newEntry()
	if err != nil {
		return nil, err
	}
	if e, err = f.createEntry(rel, e); err != nil {
		f.releaseKey(kc)
		return nil, err
	}
	bf, err := f.base.Create(name, category)
	if err != nil {
		f.releaseKey(kc)
		f.dropEntry(rel)
		return nil, err
	}
	f.noteCheckpoint(rel)
	return f.wrapWriter(bf, name, rel, e, kc), nil
}

// createEntry is dict.create, ordered against the changes that leave a
// name without an entry if it may begin an epoch.
func (f *FS) createEntry(rel string, e entry) (entry, error) {
	if f.dict.inEpoch(e) {
		return f.dict.create(rel, e, false)
	}
	f.noEntry.Lock()
	defer f.noEntry.Unlock()
	return f.dict.create(rel, e, true)
}

// clear removes name and its entry if either exists, file first. The
// removal's record goes out with the new entry's, after the directory
// sync that makes the removal durable: a crash that undid the removal
// would otherwise pair the old bytes with the new entry.
func (f *FS) clear(name, rel string) error {
	_, had := f.dict.get(rel)
	existed := had
	if !had {
		// (Some base FSes report no error for a missing file.)
		_, err := f.base.Stat(name)
		existed = err == nil
	}
	if err := f.base.Remove(name); err != nil && !oserror.IsNotExist(err) {
		return err
	}
	if had {
		return f.dict.removeLater(rel, f.dirs.ticket(splitRel(rel)))
	}
	if existed {
		// A file with no entry (plaintext from before encryption, or
		// not the store's) has no record to wait behind the directory
		// sync: make the removal durable now, before the new entry's
		// record can be.
		return f.syncDir(rel)
	}
	return nil
}

// dropEntry removes an entry whose file is gone; a failure only leaves an
// entry for a missing file, which the next Open collects.
func (f *FS) dropEntry(rel string) {
	if err := f.dict.remove(rel); err != nil {
		f.log.Warn("tde: cannot drop a dictionary entry; it will be collected at the next open", "file", rel, "err", err)
	}
}

func (f *FS) releaseKey(kc *keyCipher) {
	if kc != nil {
		f.keys.release(kc)
	}
}

// Open opens name for reading with the key and IV its entry names; a file
// with no entry is plaintext from before encryption, unless the store is
// strict.
func (f *FS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.openExisting("open", name, func() (vfs.File, error) { return f.base.Open(name, opts...) })
}

func (f *FS) openExisting(op, name string, open func() (vfs.File, error)) (vfs.File, error) {
	defer f.inflight()()
	if f.closed.Load() {
		return nil, &PathError{Op: op, Path: name, Err: ErrClosed}
	}
	rel, err := f.relPath(name)
	if err != nil {
		return nil, err
	}
	l := f.paths.of(rel)
	l.RLock()
	defer l.RUnlock()
	bf, err := open()
	if err != nil {
		return nil, err
	}
	e, ok := f.dict.get(rel)
	if !ok {
		if f.inNestedStore(rel) {
			bf.Close()
			return nil, &PathError{Op: op, Path: name, Err: ErrNestedStore}
		}
		if f.dict.strict() && !reserved(rel) {
			bf.Close()
			return nil, &MissingEntryError{Path: name}
		}
		e = entry{Method: keys.MethodPlaintext}
	}
	kc, err := f.cipherFor(name, e)
	if err != nil {
		bf.Close()
		return nil, err
	}
	return f.wrap(bf, name, e, kc), nil
}

// OpenReadWrite opens name for reading and writing, creating it if absent.
// An absent or empty file gets a new entry (a fresh IV); a file with data
// keeps its entry, which its bytes need, and its size counts as written:
// a write over written bytes is refused (see overwrite.go).
func (f *FS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	defer f.inflight()()
	rel, err := f.checkWritable("open for writing", name)
	if err != nil {
		return nil, err
	}
	if rewrittenInPlace(rel) {
		return nil, &PathError{Op: "open for writing", Path: name, Err: ErrSecondaryCache}
	}
	l := f.paths.of(rel)
	l.Lock()
	defer l.Unlock()
	fi, err := f.base.Stat(name)
	if err != nil && !oserror.IsNotExist(err) {
		return nil, err
	}
	absent := err != nil
	if !absent && fi.Size() > 0 {
		bf, err := f.base.OpenReadWrite(name, category, opts...)
		if err != nil {
			return nil, err
		}
		e, ok := f.dict.get(rel)
		if !ok {
			if f.dict.strict() {
				bf.Close()
				return nil, &MissingEntryError{Path: name}
			}
			e = entry{Method: keys.MethodPlaintext}
		}
		kc, err := f.cipherFor(name, e)
		if err != nil {
			bf.Close()
			return nil, err
		}
		w := f.wrapWriter(bf, name, rel, e, kc)
		if w.ws != nil {
			w.ws.add(0, fi.Size())
		}
		return w, nil
	}
	e, kc, err := f.newEntry()
	if err != nil {
		return nil, err
	}
	if absent {
		e, err = f.createEntry(rel, e)
	} else {
		err = f.dict.put(rel, e) // an empty file that may have been anyone's
	}
	if err != nil {
		f.releaseKey(kc)
		return nil, err
	}
	bf, err := f.base.OpenReadWrite(name, category, opts...)
	if err != nil {
		f.releaseKey(kc)
		return nil, err
	}
	return f.wrapWriter(bf, name, rel, e, kc), nil
}

// ReuseForWrite renames a file Pebble recycles (an old WAL) and opens it for
// writing under a new entry: a fresh IV, so the new log never shares
// keystream with the old one (cockroach#42460).
func (f *FS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	defer f.inflight()()
	relOld, err := f.checkSource("reuse", oldname)
	if err != nil {
		return nil, err
	}
	relNew, err := f.checkWritable("reuse", newname)
	if err != nil {
		return nil, err
	}
	defer f.paths.lockPair(relOld, relNew)()
	if _, err := f.base.Stat(oldname); err != nil {
		// Nothing to reuse. A base FS might create newname instead, with
		// no entry; report the error rather than let it.
		return nil, err
	}
	e, kc, err := f.newEntry()
	if err != nil {
		return nil, err
	}
	prevOld, hadOld := f.dict.get(relOld)
	prevNew, hadNew := f.dict.get(relNew)
	if f.dict.inEpoch(e) {
		e, err = f.dict.reuse(relOld, relNew, e, false)
	} else {
		f.noEntry.Lock() // this may begin one
		e, err = f.dict.reuse(relOld, relNew, e, true)
		f.noEntry.Unlock()
	}
	if err != nil {
		f.releaseKey(kc)
		return nil, err
	}
	bf, err := f.base.ReuseForWrite(oldname, newname, category)
	if err != nil {
		f.releaseKey(kc)
		f.undoMove(oldname, relOld, relNew, prevOld, hadOld, prevNew, hadNew)
		return nil, err
	}
	f.dict.renamed(relOld, relNew)
	return f.wrapWriter(bf, newname, relNew, e, kc), nil
}

// Rename renames oldname to newname; the entry moves with the file, in a
// record made durable first. A crash before the rename leaves oldname in
// place, and the next Open gives both names their entries back. A
// directory carries the entries of every file under it (dirmove.go).
func (f *FS) Rename(oldname, newname string) error {
	defer f.inflight()()
	if fi, err := f.base.Stat(oldname); err == nil && fi.IsDir() {
		if err := f.renameOutside(oldname, newname); err != errInStore {
			return err
		}
	}
	relOld, err := f.checkSource("rename", oldname)
	if err != nil {
		return err
	}
	relNew, err := f.checkWritable("rename", newname)
	if err != nil {
		return err
	}
	if fi, err := f.base.Stat(oldname); err == nil && fi.IsDir() {
		return f.renameDir(oldname, newname, relOld, relNew)
	}
	defer f.paths.lockPair(relOld, relNew)()
	return f.renameLocked(oldname, newname, relOld, relNew)
}

func (f *FS) renameLocked(oldname, newname, relOld, relNew string) error {
	if _, err := f.base.Stat(oldname); err != nil {
		if !oserror.IsNotExist(err) {
			return err // whether the file is there is unknown: do nothing
		}
		// Nothing to move: let the base FS report it, entries untouched.
		return f.base.Rename(oldname, newname)
	}
	prevOld, hadOld := f.dict.get(relOld)
	prevNew, hadNew := f.dict.get(relNew)
	e := prevOld
	if !hadOld {
		// A plaintext file from before encryption: the move still records
		// that newname is plaintext now, replacing any entry it had.
		if !hadNew {
			f.noEntry.RLock()
			defer f.noEntry.RUnlock()
			if err := f.dict.settleName(relNew); err != nil {
				return err
			}
			if err := f.dict.exclude(relNew); err != nil {
				return err
			}
			return f.base.Rename(oldname, newname)
		}
		e = entry{Method: keys.MethodPlaintext}
	}
	// The next Open decides whether the rename happened by whether
	// oldname exists, so oldname's own creation must be durable first: a
	// crash that loses both it and the rename would otherwise pair
	// newname's old bytes with the moved entry.
	if err := f.syncDir(relOld); err != nil {
		return err
	}
	if err := f.dict.move(relOld, relNew, e); err != nil {
		return err
	}
	if err := f.base.Rename(oldname, newname); err != nil {
		f.undoMove(oldname, relOld, relNew, prevOld, hadOld, prevNew, hadNew)
		return err
	}
	f.dict.renamed(relOld, relNew)
	return nil
}

// syncDir makes the entries of rel's directory durable.
func (f *FS) syncDir(rel string) error {
	return f.dirs.sync(splitRel(rel))
}

// undoMove puts back the entries of a move whose rename failed, if the old
// file is still there; if that fails too, the next Open undoes it.
func (f *FS) undoMove(oldname, relOld, relNew string, prevOld entry, hadOld bool, prevNew entry, hadNew bool) {
	if _, err := f.base.Stat(oldname); err != nil {
		return
	}
	var err error
	if hadOld {
		err = f.dict.put(relOld, prevOld)
	}
	if err == nil {
		if hadNew {
			err = f.dict.put(relNew, prevNew)
		} else {
			err = f.dict.remove(relNew)
		}
	}
	if err != nil {
		f.log.Warn("tde: cannot restore dictionary entries after a failed rename; the next open will", "from", relOld, "to", relNew, "err", err)
	}
}

// Link makes newname a hard link to oldname; the new name gets the same
// entry, durable before the link exists.
func (f *FS) Link(oldname, newname string) error {
	defer f.inflight()()
	relOld, err := f.checkSource("link", oldname)
	if err != nil {
		return err
	}
	relNew, err := f.checkWritable("link", newname)
	if err != nil {
		return err
	}
	defer f.paths.lockPair(relOld, relNew)()
	if _, err := f.base.Stat(newname); err == nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: os.ErrExist}
	}
	f.noEntry.RLock()
	defer f.noEntry.RUnlock()
	e, ok := f.dict.get(relOld)
	if ok {
		err = f.dict.put(relNew, e)
	} else if _, stale := f.dict.get(relNew); stale {
		err = f.dict.remove(relNew)
	}
	if err == nil && !ok {
		err = f.dict.settleName(relNew) // a move's source: see settleName
	}
	if err == nil && !ok {
		err = f.dict.exclude(relNew) // newname will have no entry
	}
	if err != nil {
		return err
	}
	if err := f.base.Link(oldname, newname); err != nil {
		if ok {
			f.dropEntry(relNew)
		}
		return err
	}
	return nil
}

// Remove removes name, then its entry.
func (f *FS) Remove(name string) error {
	defer f.inflight()()
	rel, err := f.checkSource("remove", name)
	if err != nil {
		return err
	}
	l := f.paths.of(rel)
	l.Lock()
	defer l.Unlock()
	// After a failed append the dictionary's tail is unknown; it may hold
	// a move whose source this would remove, making the next Open take
	// the move as done. Remove nothing until a reopen settles it.
	if err := f.dict.canWrite(); err != nil {
		return err
	}
	if err := f.base.Remove(name); err != nil {
		return err
	}
	if _, ok := f.dict.get(rel); ok {
		// No sync here: the entry's drop is recorded with the next synced
		// append, after a sync of the directory (Pebble's or ours) has
		// made the removal durable. A crash that undid the removal (say
		// after a Link to another name that was lost too) must not find
		// the file without its entry; one that loses the drop leaves an
		// entry for a missing file, which Open collects.
		if err := f.dict.removeLater(rel, f.dirs.ticket(splitRel(rel))); err != nil {
			f.log.Warn("tde: cannot drop a dictionary entry; it will be collected at the next open", "file", rel, "err", err)
		}
	}
	return nil
}

// RemoveAll removes name and everything under it, then their entries
// (removeall.go).
func (f *FS) RemoveAll(name string) error {
	defer f.inflight()()
	if rel, out, err := f.outside(name); err == nil && out {
		if err := checkTree("remove", name, rel); err != nil {
			return err
		}
		if err := f.refuseReadOnly("remove", name); err != nil {
			return err
		}
		fi, err := f.base.Stat(name)
		if err != nil {
			// Nothing there, or nothing to know: no entry is dropped,
			// and no directory is given an identifier.
			return f.base.RemoveAll(name)
		}
		if fi.IsDir() {
			return f.removeAllOutside(name)
		}
	}
	rel, err := f.checkSource("remove", name)
	if err != nil {
		return err
	}
	if err := checkTree("remove", name, rel); err != nil {
		return err
	}
	defer f.paths.lockAll()()
	if err := f.dict.canWrite(); err != nil {
		return err
	}
	return f.removeAllLocked(name, rel)
}

// OpenDir opens a directory; its syncs are counted, so a removal that
// Pebble's own sync made durable needs no sync of the engine's. The sync
// of a checkpoint's directory exports it as a store (checkpoint.go).
func (f *FS) OpenDir(name string) (vfs.File, error) {
	d, err := f.base.OpenDir(name)
	if err != nil {
		return nil, err
	}
	rel, err := f.dirRel(name)
	if err != nil {
		return d, nil
	}
	return f.dirHandle(name, countedDir{File: d, t: f.dirs, rdir: rel, name: name, ext: &f.ext}), nil
}

// Lock locks name, creating it with no entry; the running epoch must not
// claim it after a crash.
func (f *FS) Lock(name string) (io.Closer, error) {
	defer f.inflight()()
	if f.cfg.ReadOnly {
		return sharedLock(f.base, name, false) // no record, no change (readonly.go)
	}
	if rel, out, err := f.outside(name); err == nil && !out && !f.closed.Load() {
		f.noEntry.RLock()
		defer f.noEntry.RUnlock()
		if err := f.dict.exclude(rel); err != nil {
			return nil, err
		}
	}
	return f.base.Lock(name)
}

// The rest has nothing to encrypt and passes through.

func (f *FS) MkdirAll(dir string, perm os.FileMode) error     { return f.mkdirAll(dir, perm) }
func (f *FS) List(dir string) ([]string, error)               { return f.base.List(dir) }
func (f *FS) Stat(name string) (vfs.FileInfo, error)          { return f.base.Stat(name) }
func (f *FS) PathBase(path string) string                     { return f.base.PathBase(path) }
func (f *FS) PathJoin(elem ...string) string                  { return f.base.PathJoin(elem...) }
func (f *FS) PathDir(path string) string                      { return f.base.PathDir(path) }
func (f *FS) GetDiskUsage(path string) (vfs.DiskUsage, error) { return f.base.GetDiskUsage(path) }
func (f *FS) Unwrap() vfs.FS                                  { return f.base }
