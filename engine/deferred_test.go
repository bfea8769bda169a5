package engine

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// syncCounter counts the syncs that reach the base FS: of the store
// directory, and of the dictionary's log. failDir makes the next directory
// sync fail.
type syncCounter struct {
	dir, dict atomic.Int64
	failDir   atomic.Bool
}

func (c *syncCounter) inject(op errorfs.Op) error {
	if op.Kind != errorfs.OpFileSync {
		return nil
	}
	switch {
	case op.Path == "/s":
		if c.failDir.CompareAndSwap(true, false) {
			return errorfs.ErrInjected
		}
		c.dir.Add(1)
	case strings.HasPrefix(op.Path, "/s/"+dictLogPrefix):
		c.dict.Add(1)
	}
	return nil
}

func (c *syncCounter) counts() (dir, dict int64) { return c.dir.Load(), c.dict.Load() }

// deferredStore opens an AES-128 store at /s on mem through a sync counter,
// with one synced file a.sst in it and a directory sub, and returns what
// a.sst holds. A file created in sub needs a synced append of its own (no
// epoch covers it): the tests use one as "the next synced append".
func deferredStore(t *testing.T, mem vfs.FS, cfg Config) (*FS, *syncCounter, []byte) {
	t.Helper()
	c := &syncCounter{}
	f := mustOpen(t, errorfs.Wrap(mem, errorfs.InjectorFunc(c.inject)), "/s", cfg)
	data := bytes.Repeat([]byte("deferred removal "), 100)
	writeFile(t, f, "/s/a.sst", data)
	if err := f.MkdirAll("/s/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	return f, c, data
}

// writeFile writes a copy of data (vfs.File.Write may modify its argument,
// and the engine encrypts in place).
func writeFile(t *testing.T, f vfs.FS, name string, data []byte) {
	t.Helper()
	w, err := f.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Clone(data)); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Sync(), w.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveDefersItsRecord: Remove syncs nothing and writes nothing to
// the dictionary; the entry is hidden at once but keeps its key; a create in
// the epoch writes nothing either; the next synced append writes the
// removal with its own record, after one directory sync.
func TestRemoveDefersItsRecord(t *testing.T) {
	f, c, _ := deferredStore(t, vfs.NewMem(), testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	e, ok := f.dict.get("a.sst")
	if !ok {
		t.Fatal("a.sst has no entry")
	}
	entries, size := f.dict.len(), f.dict.size()
	dir0, dict0 := c.counts()

	if err := f.Remove("/s/a.sst"); err != nil {
		t.Fatal(err)
	}
	if dir, dict := c.counts(); dir != dir0 || dict != dict0 {
		t.Errorf("Remove synced %d directories and %d dictionary logs, want none", dir-dir0, dict-dict0)
	}
	if got := f.dict.size(); got != size {
		t.Errorf("Remove wrote %d bytes to the dictionary, want none before the next append", got-size)
	}
	if _, ok := f.dict.get("a.sst"); ok {
		t.Error("a.sst still has an entry after Remove")
	}
	if got := f.dict.len(); got != entries-1 {
		t.Errorf("dictionary holds %d entries after Remove, want %d", got, entries-1)
	}
	files, err := f.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range files {
		if fi.Path == "a.sst" {
			t.Error("Files lists the removed a.sst")
		}
	}
	if !f.dict.keyInUse(e.KeyID) {
		t.Error("the removed file's key is no longer in use before its removal is recorded: a crash could bring the file back without its key")
	}

	writeFile(t, f, "/s/b.sst", []byte("b"))
	if dir, dict := c.counts(); dir != dir0 || dict != dict0 || f.dict.size() != size {
		t.Errorf("a create in the epoch synced %d directories and %d dictionary logs and wrote %d bytes, want none", dir-dir0, dict-dict0, f.dict.size()-size)
	}
	writeFile(t, f, "/s/sub/c.sst", []byte("c"))
	dir, dict := c.counts()
	if dir-dir0 != 1 {
		t.Errorf("the synced append after a Remove synced the directory %d times, want 1 (the removal must be durable before its record)", dir-dir0)
	}
	if dict-dict0 != 1 {
		t.Errorf("the synced append after a Remove synced the dictionary %d times, want 1 (removal and entries in one append)", dict-dict0)
	}
	if f.dict.size() == size {
		t.Error("the synced append wrote nothing to the dictionary")
	}
}

// TestRemoveUsesPebblesDirectorySync: a directory sync through the FS (as
// Pebble makes after every flush and compaction) after the removal makes
// the engine's own unnecessary.
func TestRemoveUsesPebblesDirectorySync(t *testing.T) {
	f, c, _ := deferredStore(t, vfs.NewMem(), testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	if err := f.Remove("/s/a.sst"); err != nil {
		t.Fatal(err)
	}
	d, err := f.OpenDir("/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		t.Fatal(err)
	}
	dir0, dict0 := c.counts()
	writeFile(t, f, "/s/sub/b.sst", []byte("b"))
	if dir, dict := c.counts(); dir != dir0 || dict != dict0+1 {
		t.Errorf("the create synced the directory %d times and the dictionary %d times, want 0 and 1", dir-dir0, dict-dict0)
	}

	// A sync that began before the removal does not count.
	writeFile(t, f, "/s/c.sst", []byte("c"))
	d, err = f.OpenDir("/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("/s/c.sst"); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil { // opened before, but it syncs after: counts
		t.Fatal(err)
	}
	dir0, _ = c.counts()
	writeFile(t, f, "/s/sub/e.sst", []byte("e"))
	if dir, _ := c.counts(); dir != dir0 {
		t.Errorf("a sync begun after the removal did not count: %d more directory syncs", dir-dir0)
	}
}

// TestRemoveDeferredCrash: a crash before the removal's record is written
// leaves either the file with its entry (the removal was lost too) or
// neither (Open collects the entry); a crash after it was written (by the
// next synced append, which syncs the directory first) leaves neither.
// Never the file without its entry.
func TestRemoveDeferredCrash(t *testing.T) {
	const (
		crashAtOnce = iota // nothing synced the removal
		dirSynced          // someone synced the directory, no record
		nextCreate         // the next synced append wrote the record
	)
	for _, mode := range []int{crashAtOnce, dirSynced, nextCreate} {
		mem := vfs.NewCrashableMem()
		if err := errors.Join(mem.MkdirAll("/s", 0o755), syncDir(mem, "/")); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		cfg := testConfig(t, keys.MethodAES128CTR)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		f, _, data := deferredStore(t, mem, cfg)
		if err := syncDir(mem, "/s"); err != nil { // a.sst's name is durable
			t.Fatal(err)
		}
		if err := f.Remove("/s/a.sst"); err != nil {
			t.Fatal(err)
		}
		switch mode {
		case dirSynced:
			if err := syncDir(mem, "/s"); err != nil {
				t.Fatal(err)
			}
		case nextCreate:
			writeFile(t, f, "/s/sub/b.sst", []byte("b"))
		}
		gone := mode != crashAtOnce
		clone := mem.CrashClone(vfs.CrashCloneCfg{})
		mustClose(t, f)

		g := mustOpen(t, clone, "/s", cfg)
		r, err := g.Open("/s/a.sst")
		switch {
		case gone && err == nil:
			t.Errorf("mode %d: a.sst is back after a crash that kept its durable removal", mode)
		case gone:
			if _, ok := g.dict.get("a.sst"); ok {
				t.Errorf("mode %d: Open kept the entry of a.sst, which the crash removed", mode)
			}
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mode %d: opening the removed a.sst: %v, want not exist", mode, err)
			}
			// (In nextCreate the crash loses b.sst's name, so Open
			// collects b.sst's entry: only dirSynced says it for a.sst.)
			if mode == dirSynced && !strings.Contains(logs.String(), "dropped entries of files that no longer exist") {
				t.Errorf("mode %d: Open did not say it collected the entry of a.sst", mode)
			}
		case err != nil:
			t.Errorf("mode %d: a.sst, whose removal the crash lost, cannot be opened: %v", mode, err)
		default:
			got, err := io.ReadAll(r)
			if err := errors.Join(err, r.Close()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Error("a.sst, whose removal the crash lost, does not read back")
			}
		}
		mustClose(t, g)
	}
}

// TestRemoveDeferredFailedDirSync: if the directory sync before the
// removal's record fails, the append fails with an error naming the file,
// writes nothing, and the dictionary stays usable: the next append writes
// the removal.
func TestRemoveDeferredFailedDirSync(t *testing.T) {
	mem := vfs.NewMem()
	var logs bytes.Buffer
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f, c, _ := deferredStore(t, mem, cfg)
	if err := f.Remove("/s/a.sst"); err != nil {
		t.Fatal(err)
	}
	size := f.dict.size()
	c.failDir.Store(true)
	_, err := f.Create("/s/sub/b.sst", vfs.WriteCategoryUnspecified)
	if err == nil || !errors.Is(err, errorfs.ErrInjected) || !strings.Contains(err.Error(), "a.sst") {
		t.Fatalf("Create with the directory sync failing: %v, want the injected error naming a.sst", err)
	}
	if f.dict.size() != size {
		t.Error("the failed append wrote to the dictionary")
	}
	writeFile(t, f, "/s/sub/b.sst", []byte("b"))
	mustClose(t, f)

	g := mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, g)
	if strings.Contains(logs.String(), "dropped entries") {
		t.Error("the removal of a.sst was never recorded: Open had to collect it")
	}
	if _, ok := g.dict.get("sub/b.sst"); !ok {
		t.Error("sub/b.sst has no entry")
	}
}

// TestCloseWritesDeferredRemovals: Close records the removals still
// waiting, so a clean shutdown leaves nothing for Open to collect.
func TestCloseWritesDeferredRemovals(t *testing.T) {
	mem := vfs.NewMem()
	var logs bytes.Buffer
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f, _, _ := deferredStore(t, mem, cfg)
	if err := f.Remove("/s/a.sst"); err != nil {
		t.Fatal(err)
	}
	mustClose(t, f)
	g := mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, g)
	if strings.Contains(logs.String(), "dropped entries") {
		t.Error("Close did not record the removal of a.sst: Open had to collect it")
	}
	if g.dict.len() != 0 {
		t.Errorf("%d entries after removing the only file", g.dict.len())
	}
}

// TestDeferredRemovalKeepsKeyUntilRecorded: a key used only by a removed
// file retires only once the removal is recorded, which retain does first.
func TestDeferredRemovalKeepsKeyUntilRecorded(t *testing.T) {
	f, _, _ := deferredStore(t, vfs.NewMem(), testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	old, _ := f.dict.get("a.sst")
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("/s/a.sst"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.retain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Key(old.KeyID); err == nil {
		t.Error("the key of the removed a.sst is still in the registry after retain")
	}
}
