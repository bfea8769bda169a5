package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memFS is an in-memory FS that models what a crash keeps: a file's
// contents as of its last Sync, and the directory's entries as of the last
// SyncDir (one directory is enough for the registry). It can also fail any
// operation, to test every step of a write.
type memFS struct {
	mu      sync.Mutex
	names   map[string]*memInode // the namespace now
	durable map[string]*memInode // the namespace as of the last SyncDir
	ops     int                  // mutating operations so far
	failAt  int                  // the op number that fails; 0 means none
	sticky  bool                 // once failed, every later op fails too (the machine died)
	failed  bool
}

type memInode struct {
	data, synced []byte
}

var errInjected = errors.New("injected fault")

func newMemFS() *memFS {
	return &memFS{names: map[string]*memInode{}, durable: map[string]*memInode{}}
}

// fault counts a mutating operation and reports whether it fails.
func (m *memFS) fault(op, name string) error {
	m.ops++
	if m.failed && m.sticky || m.failAt != 0 && m.ops == m.failAt {
		m.failed = true
		return fmt.Errorf("%s %s: %w", op, name, errInjected)
	}
	return nil
}

// failOn arms a fault at the n-th mutating operation from now (1-based).
func (m *memFS) failOn(n int, sticky bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops, m.failAt, m.sticky, m.failed = 0, n, sticky, false
}

func (m *memFS) disarm() { m.failOn(0, false) }

// crash drops everything not durable: unsynced file contents and directory
// changes since the last SyncDir.
func (m *memFS) crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names = maps.Clone(m.durable)
	for _, n := range m.names {
		n.data = slices.Clone(n.synced)
	}
	m.ops, m.failAt, m.sticky, m.failed = 0, 0, false, false
}

func (m *memFS) Open(name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return io.NopCloser(bytes.NewReader(slices.Clone(n.data))), nil
}

func (m *memFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("create", name); err != nil {
		return nil, err
	}
	n, ok := m.names[name]
	if ok {
		n.data = nil // O_TRUNC on the same inode
	} else {
		n = &memInode{}
		m.names[name] = n
	}
	return &memFile{fs: m, n: n, name: name}, nil
}

func (m *memFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("rename", oldname); err != nil {
		return err
	}
	n, ok := m.names[oldname]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	m.names[newname] = n
	delete(m.names, oldname)
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("remove", name); err != nil {
		return err
	}
	if _, ok := m.names[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.names, name)
	return nil
}

func (m *memFS) SyncDir(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("syncdir", ""); err != nil {
		return err
	}
	m.durable = maps.Clone(m.names)
	return nil
}

func (m *memFS) PathJoin(elem ...string) string { return path.Join(elem...) }

// snapshot copies the namespace and contents, to compare before and after.
func (m *memFS) snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := map[string]string{}
	for name, n := range m.names {
		s[name] = string(n.data)
	}
	return s
}

func (m *memFS) put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := &memInode{data: slices.Clone(data), synced: slices.Clone(data)}
	m.names[name] = n
	m.durable[name] = n
}

type memFile struct {
	fs   *memFS
	n    *memInode
	name string
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.fault("write", f.name); err != nil {
		return 0, err
	}
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.fault("sync", f.name); err != nil {
		return err
	}
	f.n.synced = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.fs.fault("close", f.name)
}

// faultFS wraps another FS (OSFS in tests) and fails the operations its
// hook picks.
type faultFS struct {
	FS
	fail func(op, name string) error
}

func (f faultFS) Create(name string) (File, error) {
	if err := f.fail("create", name); err != nil {
		return nil, err
	}
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return faultFile{File: file, fail: f.fail, name: name}, nil
}

func (f faultFS) Rename(oldname, newname string) error {
	if err := f.fail("rename", oldname); err != nil {
		return err
	}
	return f.FS.Rename(oldname, newname)
}

func (f faultFS) SyncDir(dir string) error {
	if err := f.fail("syncdir", dir); err != nil {
		return err
	}
	return f.FS.SyncDir(dir)
}

type faultFile struct {
	File
	fail func(op, name string) error
	name string
}

func (f faultFile) Write(p []byte) (int, error) {
	if err := f.fail("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f faultFile) Sync() error {
	if err := f.fail("sync", f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

// dirSnapshot records every file under the given directories: name, mode
// and bytes.
func dirSnapshot(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if d.IsDir() {
				s[p] = info.Mode().String()
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s[p] = info.Mode().String() + " " + string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s: %s was removed", what, name)
		case a != b:
			t.Errorf("%s: %s changed", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: %s was created", what, name)
		}
	}
}

// randKey returns n random bytes.
func randKey(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// hexKeyFile writes a TiKV-style key file with mode 0600 and returns its
// path and key.
func hexKeyFile(t *testing.T, dir, name string) (string, []byte) {
	t.Helper()
	key := randKey(t, 32)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, key
}

// fileKey returns a random in-memory master key of kind "file".
func fileKey(t testing.TB) MasterKey {
	t.Helper()
	k, err := ParseHexKey([]byte(hex.EncodeToString(randKey(t, 32)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// clock is an injectable clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newClock() *clock {
	c := &clock{}
	c.ns.Store(epoch.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer collects log output from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// quietLogger discards output.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// cfgWith builds a registry config with a quiet logger and the given clock.
func cfgWith(master MasterKey, m Method, c *clock) RegistryConfig {
	return RegistryConfig{Master: master, Method: m, Now: c.Now, Logger: quietLogger()}
}

func mustOpen(t *testing.T, fsys FS, dir string, cfg RegistryConfig) *Registry {
	t.Helper()
	r, err := OpenRegistry(context.Background(), fsys, dir, cfg)
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// keyBytes maps every data key's id to a copy of its bytes.
func keyBytes(r *Registry) map[uint64]string {
	out := map[uint64]string{}
	for _, ki := range r.Keys() {
		k, err := r.Key(ki.ID)
		if err != nil {
			panic(err)
		}
		out[ki.ID] = string(k.Key())
	}
	return out
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crcTable) }
