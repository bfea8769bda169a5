package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// memTableSize is Pebble's default, made explicit because the block cache
// is sized around it.
const memTableSize = 4 << 20

// memTableBudget is what the cache holds beyond the block room for
// Pebble's memtables: the mutable one and an obsolete one kept for
// recycling.
const memTableBudget = 2 * memTableSize

// store is one Pebble store of one method.
type store struct {
	fs      vfs.FS // what the store's files live on, below the engine
	db      *pebble.DB
	efs     *engine.FS // nil for plaintext
	mk      keys.MasterKey
	dir     string
	cache   interface{ Unref() } // pebble's *cache.Cache
	reserve func(int) func()     // its Reserve
	// helperCPU, if set, is the CPU time so far of another process
	// that does the method's work (gocryptfs).
	helperCPU func() time.Duration
}

// openStore makes a fresh store in dir for method m, on the disk or, with
// mem, in memory (vfs.NewMem, a file system of its own per store).
// Plaintext is Pebble on the bare file system, without the engine: the
// baseline includes nothing tde adds. gocryptfs is the same, with dir on a
// gocryptfs mount. Every other method runs Pebble on an engine.FS over the
// file system, under a random master key that lives only in memory. A
// delay > 0 wraps the FS Pebble sees so every file read and write waits
// that long (a testing aid: a slower method on purpose).
func (c *Config) openStore(dir string, m Method, w Workload) (_ *store, err error) {
	cacheSize, delay := c.CacheSize, c.Delay[m]
	s := &store{dir: dir, fs: vfs.Default}
	if c.MemFS {
		s.fs = vfs.NewMem()
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	fs := s.fs
	if m.tde() != keys.MethodPlaintext {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		hx := []byte(hex.EncodeToString(k[:]) + "\n")
		clear(k[:])
		s.mk, err = keys.ParseHexKey(hx)
		clear(hx)
		if err != nil {
			return nil, err
		}
		s.efs, err = engine.Open(s.fs, dir, engine.Config{
			Method:    m.tde(),
			MasterKey: engine.MasterKeyConfig{Key: s.mk},
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			return nil, fmt.Errorf("engine.Open(%s, %v): %w", dir, m, err)
		}
		fs = s.efs
	}
	if delay > 0 {
		fs = slowFS{FS: fs, delay: delay}
	}
	// Pebble charges its memtables to the block cache; see cacheRoom.
	cache := pebble.NewCache(cacheSize + memTableBudget)
	s.cache, s.reserve = cache, cache.Reserve
	opts := &pebble.Options{
		FS:           fs,
		Cache:        cache,
		MemTableSize: memTableSize,
		Logger:       quietLogger{},
	}
	// No compactions triggered by reads: they start at times that depend
	// on sampling, so they would land in one method's slice and not in
	// another's.
	opts.Experimental.ReadSamplingMultiplier = -1
	// A fill compacts once, at the end of its slice (see runSlice), not
	// whenever background scheduling happens to start a compaction: the
	// same work for every method, whatever the timing. Without
	// compactions every flush of a fillrandom adds an L0 sublevel, and at
	// Pebble's stop-writes threshold (12) writes would wait for a
	// compaction that never comes: a long slice or a fast machine would
	// hang.
	if !w.preloaded() {
		opts.DisableAutomaticCompactions = true
		opts.L0StopWritesThreshold = math.MaxInt32
	}
	s.db, err = pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("pebble.Open(%s, %v): %w", dir, m, err)
	}
	return s, nil
}

// close closes the DB, then the engine FS, then removes the store.
func (s *store) close() error {
	var errs []error
	if s.db != nil {
		errs = append(errs, s.db.Close())
		s.db = nil
	}
	if s.cache != nil {
		s.cache.Unref()
		s.cache = nil
	}
	if s.efs != nil {
		errs = append(errs, s.efs.Close())
		s.efs = nil
	}
	if s.mk != nil {
		errs = append(errs, s.mk.Close())
		s.mk = nil
	}
	if s.fs == vfs.Default {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// cacheRoom leaves exactly cacheSize of the block cache for blocks, and
// returns the function that undoes it. Pebble charges its memtables to the
// block cache, and their size varies (they grow from 256 KiB to
// memTableSize, and one obsolete memtable is kept for recycling), so a
// fixed cache would leave a varying room for blocks: up to 8 MiB more in
// a small store, enough to hold its data and make reads never reach a file.
// The cache is made memTableBudget larger than cacheSize, and whatever of
// that budget the memtables do not use now is reserved here. Writes during
// the run may grow the memtables and shrink the room a little.
func (s *store) cacheRoom() func() {
	m := s.db.Metrics()
	used := int64(m.MemTable.Size + m.MemTable.ZombieSize) // bytes reserved for memtables
	if extra := memTableBudget - used; extra > 0 {
		return s.reserve(int(extra))
	}
	return func() {}
}

// waitIdle waits until no flush or compaction is running, and none has
// started for two polls pollIdle apart, so that background work started by
// one slice or phase is billed to it and not to the next. (Pebble
// schedules the compactions a flush calls for before Flush returns.) It
// returns when the store was first seen idle: the end of the work, not of
// the wait.
func (s *store) waitIdle() (time.Time, error) {
	deadline := time.Now().Add(2 * time.Minute)
	var idle time.Time
	for quiet := 0; ; {
		now := time.Now()
		m := s.db.Metrics()
		if m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0 {
			quiet = 0
		} else {
			if quiet == 0 {
				idle = now
			}
			if quiet++; quiet == 2 {
				return idle, nil
			}
		}
		if now.After(deadline) {
			return idle, errors.New("bench: compactions still running after 2 minutes")
		}
		time.Sleep(pollIdle)
	}
}

// compact compacts the whole store into its last level and waits for
// Pebble to go idle. Preloading and then writing workloads leave each
// method's store in a shape of its own, set by when its flushes and
// compactions happened to run: in one published run the aes128-ctr store
// answered the same scans with 14% more block-cache lookups than
// plaintext's, and the read workloads priced that shape, not the
// encryption. Compacted, every method's store holds the same tables, so
// reads compare like with like.
func (s *store) compact(ctx context.Context) error {
	// Keys are decimal digits: this range holds them all.
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return err
	}
	_, err := s.waitIdle()
	return err
}

// warm reads every table of the store once through the file system
// below Pebble and the engine, from the disk, so that what the measured
// reads find in the caches below is alike for every store, whatever
// made its files.
//
// From the disk: each file's cached pages are dropped first
// (dropCached). Pages cached as a process wrote them read slower than
// pages cached by readahead, by a point or two, the earliest written
// the slowest, for as long as they stay cached: a store made first in a
// build ran a point or two slower than its rivals for its whole life,
// which read as the method's cost (bench/README.md, "Where a store's
// speed came from").
//
// Through the file system below: a gocryptfs mount caches no page
// written through it, so the first reads of a freshly compacted store
// went through the FUSE daemon: in the 12-build publish of 2026-12-05
// gocryptfs's random reads cost +230% in the first round of a build,
// +2-3% by the twelfth. FUSE drops a file's cached pages when it is
// opened again (gocryptfs does not ask to keep them), so Pebble must
// have opened every table first: a lookup of each table's smallest key
// opens it. Measured (tdebench run --methods aes128-ctr,gocryptfs
// --workloads readrandom --rounds 60 --builds 3): Pebble's pass alone
// (every key) left +49% in a build's first round, the files alone +300%,
// every key then the files +5.6%; this pass (a lookup a table, then the
// files) +19%, in a noisy run whose later rounds scattered from -6% to
// +15%.
func (s *store) warm() error {
	levels, err := s.db.SSTables()
	if err != nil {
		return err
	}
	var names []string
	for _, tables := range levels {
		for _, t := range tables {
			_, closer, err := s.db.Get(t.Smallest.UserKey)
			if err == nil {
				err = closer.Close()
			}
			if err != nil && !errors.Is(err, pebble.ErrNotFound) {
				return err
			}
			if name := s.fs.PathJoin(s.dir, tableFile(t)); !slices.Contains(names, name) {
				names = append(names, name) // once, if virtual tables share it
			}
		}
	}
	buf := make([]byte, 1<<20)
	for _, name := range names {
		if err := readThrough(s.fs, name, buf); err != nil {
			return err
		}
	}
	return nil
}

// tableFile is the name Pebble gives the file of table t.
func tableFile(t pebble.SSTableInfo) string {
	return fmt.Sprintf("%06d.sst", t.BackingSSTNum)
}

// readThrough drops the file name's cached pages (dropCached), then
// reads it to its end, buf at a time.
func readThrough(fs vfs.FS, name string, buf []byte) error {
	f, err := fs.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := dropCached(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		off += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

// quietLogger keeps Pebble's informational lines out of the output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
