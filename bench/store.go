package bench

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// store is one fresh Pebble store for one run.
type store struct {
	db      *pebble.DB
	efs     *engine.FS // nil for plaintext
	mk      keys.MasterKey
	dir     string
	cache   interface{ Unref() } // pebble's *cache.Cache
	reserve func(int) func()     // its Reserve
}

// openStore makes a fresh store in dir for method m. Plaintext is Pebble on
// the bare disk, without the engine: the baseline includes nothing tde
// adds. Every other method runs Pebble on an engine.FS over the disk,
// under a random master key that lives only in memory. A delay > 0 wraps
// the FS Pebble sees so every file read and write waits that long (a
// testing aid: a slower method on purpose).
func openStore(dir string, m Method, cacheSize int64, delay time.Duration) (_ *store, err error) {
	s := &store{dir: dir}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var fs vfs.FS = vfs.Default
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
		s.efs, err = engine.Open(vfs.Default, dir, engine.Config{
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
	s.db, err = pebble.Open(dir, &pebble.Options{
		FS:           fs,
		Cache:        cache,
		MemTableSize: memTableSize,
		Logger:       quietLogger{},
	})
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
	errs = append(errs, os.RemoveAll(s.dir))
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
// started for two polls a millisecond apart, so that background work
// started by one phase is billed to it and not to the next. (Pebble
// schedules the compactions a flush calls for before Flush returns.)
func (s *store) waitIdle() error {
	const poll = time.Millisecond
	deadline := time.Now().Add(2 * time.Minute)
	for quiet := 0; quiet < 2; {
		m := s.db.Metrics()
		if m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0 {
			quiet = 0
		} else {
			quiet++
		}
		if time.Now().After(deadline) {
			return errors.New("bench: compactions still running after 2 minutes")
		}
		time.Sleep(poll)
	}
	return nil
}

// quietLogger keeps Pebble's informational lines out of the output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
