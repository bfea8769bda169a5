package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// crashEach takes crash clones of mem while armed: before every write
// operation that reaches it, one keeping no unsynced data and one keeping
// a random half, so every step of an operation is a crash point.
type crashEach struct {
	mem    *vfs.MemFS
	armed  bool
	rng    *rand.Rand
	clones []crashPoint
	moved  int // clones checked that kept the new name only
}

type crashPoint struct {
	fs    *vfs.MemFS
	where string
}

func newCrashEach(mem *vfs.MemFS) *crashEach {
	return &crashEach{mem: mem, rng: rand.New(rand.NewPCG(1, 2))}
}

func (c *crashEach) inject(op errorfs.Op) error {
	if c.armed && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
		c.take(fmt.Sprintf("before op %d on %s", op.Kind, op.Path))
	}
	return nil
}

func (c *crashEach) take(where string) {
	c.clones = append(c.clones,
		crashPoint{c.mem.CrashClone(vfs.CrashCloneCfg{}), where + " (no unsynced data)"},
		crashPoint{c.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(c.rng.Uint64(), 0))}), where + " (half the unsynced data)"})
}

// run runs op armed, then takes the clones after it returned.
func (c *crashEach) run(t *testing.T, op func() error) {
	t.Helper()
	c.armed = true
	err := op()
	c.armed = false
	if err != nil {
		t.Fatal(err)
	}
	c.take("after")
}

// durableFile writes data to name through fs and syncs it.
func durableFile(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	noErr(t, fs.MkdirAll(fs.PathDir(name), 0o755))
	w, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	noErr(t, err)
	_, err = w.Write(bytes.Clone(data))
	noErr(t, errors.Join(err, w.Sync(), w.Close()))
}

// treeStore opens a strict store at /s on fs holding x.sst and, durable
// with their directories, sub/a.sst and sub/deep/b.sst; it returns what
// the files under sub hold, by path relative to sub.
func treeStore(t *testing.T, fs vfs.FS, mem vfs.FS, cfg Config) (*FS, map[string][]byte) {
	t.Helper()
	f := mustOpen(t, fs, "/s", cfg)
	tree := map[string][]byte{
		"a.sst":      bytes.Repeat([]byte("table a "), 700),
		"deep/b.sst": bytes.Repeat([]byte("table b "), 900),
	}
	for rel, data := range tree {
		durableFile(t, f, "/s/sub/"+rel, data)
	}
	durableFile(t, f, "/s/x.sst", []byte("top level"))
	for _, d := range []string{"/", "/s", "/s/sub", "/s/sub/deep"} {
		noErr(t, syncDir(mem, d))
	}
	return f, tree
}

// TestRenameDirCarriesEntries: after renaming a directory, every file under
// it reads back under the new name, before and after a reopen, in a
// strict store and in one with plaintext files from before encryption.
func TestRenameDirCarriesEntries(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			mem := vfs.NewMem()
			cfg := testConfig(t, keys.MethodAES256CTR)
			plain := []byte("plaintext from before encryption")
			if !strict {
				durableFile(t, mem, "/s/sub/plain.txt", plain)
			}
			f, tree := treeStore(t, mem, mem, cfg)
			if !strict {
				tree["plain.txt"] = plain
			}
			noErr(t, f.Rename("/s/sub", "/s/moved"))
			check := func(f *FS, when string) {
				t.Helper()
				for rel, want := range tree {
					got, err := ecReadFile(f, "/s/moved/"+rel)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: moved/%s reads %d bytes (err %v), want its %d bytes", when, rel, len(got), err, len(want))
					}
					if _, ok := f.dict.get("sub/" + rel); ok {
						t.Errorf("%s: sub/%s still has an entry", when, rel)
					}
				}
			}
			check(f, "after the rename")
			mustClose(t, f)
			f = mustOpen(t, mem, "/s", cfg)
			defer mustClose(t, f)
			check(f, "after a reopen")
			if got := f.dict.strict(); got != strict {
				t.Fatalf("strict = %v, want %v", got, strict)
			}
		})
	}
}

// TestCrashRenameDir: a crash at every step of a directory rename (and
// after it) leaves a store that opens, and every file of the directory
// reads back under the name the crash kept: the old one if it is still
// there, else the new one. The store then takes the source's name again
// (MkdirAll) and a reopen still reads the files under the new name: a
// recovered or settled move is never judged again. "with a rewrite"
// crashes inside the dictionary rewrite the rename's record triggers,
// which must write the move as pending.
func TestCrashRenameDir(t *testing.T) {
	for _, v := range []struct {
		name    string
		rewrite bool
		dest    map[string][]byte // files in the destination before; nil: no destination
	}{
		{"append", false, nil},
		{"with a rewrite", true, nil},
		// A destination that exists: the source's presence alone tells
		// whether the rename happened.
		{"onto an empty directory", false, map[string][]byte{}},
		// MemFS replaces a non-empty directory (a disk refuses): the
		// entries it drops come back if the rename is undone.
		{"onto a directory MemFS replaces", true, map[string][]byte{"old.sst": []byte("the destination's own table")}},
	} {
		t.Run(v.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			noErr(t, mem.MkdirAll("/s", 0o755))
			c := newCrashEach(mem)
			cfg := testConfig(t, keys.MethodAES128CTR)
			f, tree := treeStore(t, errorfs.Wrap(mem, errorfs.InjectorFunc(c.inject)), mem, cfg)
			if v.dest != nil {
				noErr(t, f.MkdirAll("/s/moved", 0o755))
				for rel, data := range v.dest {
					durableFile(t, f, "/s/moved/"+rel, data)
				}
				noErr(t, errors.Join(syncDir(mem, "/s/moved"), syncDir(mem, "/s")))
			}
			if v.rewrite {
				f.dict.wmu.Lock()
				f.dict.appended = 1 << 30
				f.dict.wmu.Unlock()
				log := f.dict.logPath()
				defer func() {
					if f.dict.logPath() == log {
						t.Error("the rename's record did not rewrite the dictionary")
					}
				}()
			}
			c.run(t, func() error { return f.Rename("/s/sub", "/s/moved") })
			// What a caller does after a rename: sync the directory.
			noErr(t, syncDir(mem, "/s"))
			c.take("after the caller synced the store directory")
			// The source's name made again (MkdirAll records nothing),
			// then a reopen: the settled move is not judged again.
			noErr(t, errors.Join(f.MkdirAll("/s/sub", 0o755), syncDir(mem, "/s")))
			mustClose(t, f)
			f = mustOpen(t, mem, "/s", cfg)
			for rel, want := range tree {
				if got, err := ecReadFile(f, "/s/moved/"+rel); err != nil || !bytes.Equal(got, want) {
					t.Errorf("after the source's name came back and a reopen, moved/%s reads %d bytes (err %v), want its %d bytes", rel, len(got), err, len(want))
				}
			}
			mustClose(t, f)
			var logs syncLogBuffer
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			for i, cp := range c.clones {
				checkRenameClone(t, c, cp, tree, v.dest, cfg, fmt.Sprintf("crash point %d of %d, %s", i, len(c.clones), cp.where))
			}
			// The crash points cover both outcomes of a recorded move.
			if !strings.Contains(logs.String(), "undid a directory move") {
				t.Error("no crash point found the move recorded and the rename not done")
			}
			if c.moved == 0 {
				t.Error("no crash point found the rename done")
			}
		})
	}
}

func checkRenameClone(t *testing.T, c *crashEach, cp crashPoint, tree, dest map[string][]byte, cfg Config, label string) {
	t.Helper()
	f, err := Open(cp.fs, "/s", cfg)
	if err != nil {
		t.Fatalf("%s: Open: %v", label, err)
	}
	_, srcErr := cp.fs.Stat("/s/sub")
	dir := "moved"
	if srcErr == nil {
		// The rename did not happen (or a MemFS clone kept both names,
		// which a journaling filesystem never does: the source counts).
		dir = "sub"
	}
	read := func(f *FS, when string) {
		t.Helper()
		want := map[string][]byte{}
		for rel, data := range tree {
			want[dir+"/"+rel] = data
		}
		if dir == "sub" {
			for rel, data := range dest {
				want["moved/"+rel] = data
			}
		}
		for rel, data := range want {
			got, err := ecReadFile(f, "/s/"+rel)
			if dir == "sub" && strings.HasPrefix(rel, "moved/") && oserror.IsNotExist(err) {
				continue // a MemFS clone that kept both names keeps the source's tree under both
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %s: %s reads %d bytes (err %v), want its %d bytes", label, when, rel, len(got), err, len(data))
			}
		}
	}
	read(f, "after the crash")
	if dir == "moved" {
		c.moved++
		noErr(t, f.MkdirAll("/s/sub", 0o755))
		noErr(t, syncDir(cp.fs, "/s"))
	}
	mustClose(t, f)
	f, err = Open(cp.fs, "/s", cfg)
	if err != nil {
		t.Fatalf("%s: Open again: %v", label, err)
	}
	read(f, "after the source's name came back and a reopen")
	mustClose(t, f)
}

// TestCrashRemoveAll: a crash at every step of a RemoveAll (and after it)
// leaves a strict store that opens, in which every file of the tree that
// came back reads its bytes: never a file without its entry. "with a
// removal waiting": a file of the tree was removed before, its record
// still waiting for a sync of its directory, which RemoveAll is about to
// remove.
func TestCrashRemoveAll(t *testing.T) {
	for _, waiting := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "with a removal waiting"}[waiting], func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			noErr(t, mem.MkdirAll("/s", 0o755))
			c := newCrashEach(mem)
			cfg := testConfig(t, keys.MethodSM4CTR)
			f, tree := treeStore(t, errorfs.Wrap(mem, errorfs.InjectorFunc(c.inject)), mem, cfg)
			if waiting {
				durableFile(t, f, "/s/sub/gone.sst", []byte("removed first"))
				noErr(t, syncDir(mem, "/s/sub"))
				noErr(t, f.Remove("/s/sub/gone.sst"))
			}
			c.run(t, func() error { return f.RemoveAll("/s/sub") })
			if _, err := mem.Stat("/s/sub"); !oserror.IsNotExist(err) {
				t.Fatalf("sub still exists after RemoveAll: %v", err)
			}
			for rel := range dictContents(f.dict) {
				if strings.HasPrefix(rel, "sub/") {
					t.Errorf("%s keeps its entry after RemoveAll", rel)
				}
			}
			mustClose(t, f)
			for i, cp := range c.clones {
				label := fmt.Sprintf("crash point %d of %d, %s", i, len(c.clones), cp.where)
				f, err := Open(cp.fs, "/s", cfg)
				if err != nil {
					t.Fatalf("%s: Open: %v", label, err)
				}
				for rel, want := range tree {
					got, err := ecReadFile(f, "/s/sub/"+rel)
					if oserror.IsNotExist(err) {
						continue
					}
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%s: sub/%s came back and reads %d bytes (err %v), want its %d bytes", label, rel, len(got), err, len(want))
					}
				}
				mustClose(t, f)
			}
		})
	}
}

// TestCrashCreateOverPlaintext: in a store encrypted late, a file from
// before encryption (no entry) is replaced: created over, its new bytes
// synced, its directory not. After a crash at any step the name reads the
// old bytes, the new ones, or does not exist; never the old bytes under
// the new entry. The reuse of a plaintext log and the open for writing of
// an empty plaintext file, the other ways a name gets a new entry over an
// entry-less file, are held to the same.
func TestCrashCreateOverPlaintext(t *testing.T) {
	old, neu := []byte("old plaintext bytes from before encryption"), []byte("new bytes, encrypted")
	for _, c := range []struct {
		name   string
		before string // the plaintext file made before encryption
		empty  bool
		op     func(f *FS) error
		after  string // the name that must read old, new or nothing
	}{
		{"create over", "b.sst", false, func(f *FS) error {
			return writeSynced(f.Create("/s/b.sst", vfs.WriteCategoryUnspecified))
		}, "b.sst"},
		{"reuse for write", "000001.log", false, func(f *FS) error {
			return writeSynced(f.ReuseForWrite("/s/000001.log", "/s/000002.log", vfs.WriteCategoryUnspecified))
		}, "000002.log"},
		{"open for writing an empty file", "b.sst", true, func(f *FS) error {
			return writeSynced(f.OpenReadWrite("/s/b.sst", vfs.WriteCategoryUnspecified))
		}, "b.sst"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			data := old
			if c.empty {
				data = nil
			}
			durableFile(t, mem, "/s/"+c.before, data)
			noErr(t, errors.Join(syncDir(mem, "/"), syncDir(mem, "/s")))
			ce := newCrashEach(mem)
			cfg := testConfig(t, keys.MethodAES192CTR)
			f := mustOpen(t, errorfs.Wrap(mem, errorfs.InjectorFunc(ce.inject)), "/s", cfg)
			if f.dict.strict() {
				t.Fatal("the store is strict; want one encrypted late")
			}
			ce.run(t, func() error { return c.op(f) })
			mustClose(t, f)
			for i, cp := range ce.clones {
				label := fmt.Sprintf("crash point %d of %d, %s", i, len(ce.clones), cp.where)
				f, err := Open(cp.fs, "/s", cfg)
				if err != nil {
					t.Fatalf("%s: Open: %v", label, err)
				}
				got, err := ecReadFile(f, "/s/"+c.after)
				// A crash before the sync may keep a prefix of the new
				// bytes; a reused file keeps its old bytes past the new.
				reusedTail := c.before != c.after && bytes.HasPrefix(got, neu)
				if !oserror.IsNotExist(err) && (err != nil || !bytes.Equal(got, data) && !bytes.HasPrefix(neu, got) && !reusedTail) {
					t.Fatalf("%s: %s reads %q (err %v), want %q, (a prefix of) %q or no file", label, c.after, got, err, data, neu)
				}
				mustClose(t, f)
			}
		})
	}
}

// writeSynced writes the test's new bytes to a file just opened, syncs
// and closes it.
func writeSynced(w vfs.File, err error) error {
	if err != nil {
		return err
	}
	_, err = w.Write([]byte("new bytes, encrypted"))
	return errors.Join(err, w.Sync(), w.Close())
}

// TestRemoveAllTakesPathLocks: RemoveAll waits for an operation holding the
// lock of a path under the tree, as Remove would.
func TestRemoveAllTakesPathLocks(t *testing.T) {
	mem := vfs.NewMem()
	f, _ := treeStore(t, mem, mem, testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	l := f.paths.of("sub/a.sst")
	l.RLock() // an Open of sub/a.sst in flight
	done := make(chan error, 1)
	go func() { done <- f.RemoveAll("/s/sub") }()
	select {
	case err := <-done:
		l.RUnlock()
		t.Fatalf("RemoveAll returned (%v) while an open of a file under it held its path lock", err)
	case <-time.After(50 * time.Millisecond):
	}
	l.RUnlock()
	noErr(t, <-done)
}

// TestRenameDirRefused: renaming the store directory, onto it, a directory
// into itself, or one holding a file open for writing (Reencrypt knows
// writers by their path) is refused with a typed error, and changes
// nothing.
func TestRenameDirRefused(t *testing.T) {
	mem := vfs.NewMem()
	f, tree := treeStore(t, mem, mem, testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	noErr(t, mem.MkdirAll("/t", 0o755))
	for _, c := range []struct {
		old, new string
		want     error
	}{
		{"/s", "/elsewhere", ErrReservedName},
		{"/s/sub", "/s", ErrReservedName},
		{"/s/sub", "/", ErrReservedName},
		{"/s/sub", "/s/sub/inner", os.ErrInvalid},
		{"/s/sub/deep", "/s/sub", os.ErrInvalid},
	} {
		if err := f.Rename(c.old, c.new); !errors.Is(err, c.want) {
			t.Errorf("Rename(%s, %s) = %v, want %v", c.old, c.new, err, c.want)
		}
	}
	w, err := f.Create("/s/sub/deep/open.log", vfs.WriteCategoryUnspecified)
	noErr(t, err)
	if err := f.Rename("/s/sub", "/s/other"); !errors.Is(err, ErrFilesOpen) {
		t.Errorf("Rename of a directory holding a file open for writing = %v, want %v", err, ErrFilesOpen)
	}
	noErr(t, w.Close())
	if err := f.RemoveAll("/"); !errors.Is(err, ErrReservedName) {
		t.Errorf("RemoveAll(/) = %v, want %v", err, ErrReservedName)
	}
	for rel, want := range tree {
		if got, err := ecReadFile(f, "/s/sub/"+rel); err != nil || !bytes.Equal(got, want) {
			t.Errorf("sub/%s reads %d bytes (err %v) after the refusals", rel, len(got), err)
		}
	}
}

// TestRenameDirOntoNonEmptyDir: on a real disk, renaming a directory onto a
// non-empty one fails; the engine follows and changes nothing: both trees
// read back, then and after a reopen.
func TestRenameDirOntoNonEmptyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, vfs.Default, dir, cfg)
	files := map[string][]byte{"a/1.sst": []byte("one"), "a/deep/2.sst": []byte("two"), "b/3.sst": []byte("three")}
	for rel, data := range files {
		durableFile(t, f, filepath.Join(dir, rel), data)
	}
	if err := f.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err == nil {
		t.Fatal("renaming a directory onto a non-empty one succeeded")
	}
	check := func(f *FS, when string) {
		for rel, want := range files {
			if got, err := ecReadFile(f, filepath.Join(dir, rel)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %s reads %q (err %v), want %q", when, rel, got, err, want)
			}
		}
	}
	check(f, "after the failed rename")
	mustClose(t, f)
	f = mustOpen(t, vfs.Default, dir, cfg)
	check(f, "after a reopen")
	mustClose(t, f)
}

// TestPebbleInRenamedDir: a Pebble store in a subdirectory of the engine's
// store, closed, its directory renamed through the FS: Pebble opens it
// under the new name and reads every key, before and after the FS reopens.
func TestPebbleInRenamedDir(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodSM4CTR)
	f := mustOpen(t, mem, "/s", cfg)
	db, err := pebble.Open("/s/db", pebbleOptions(f))
	noErr(t, err)
	const n = 2000
	for i := range n {
		noErr(t, db.Set(canaryKey(i), canaryValue(i), pebble.NoSync))
	}
	noErr(t, db.Flush())
	noErr(t, db.Close())
	noErr(t, f.Rename("/s/db", "/s/db-renamed"))
	scan := func(f *FS, when string) {
		t.Helper()
		db, err := pebble.Open("/s/db-renamed", pebbleOptions(f))
		if err != nil {
			t.Fatalf("%s: pebble.Open: %v", when, err)
		}
		for i := range n {
			v, closer, err := db.Get(canaryKey(i))
			if err != nil || !bytes.Equal(v, canaryValue(i)) {
				t.Fatalf("%s: key %d: %q, %v", when, i, v, err)
			}
			closer.Close()
		}
		noErr(t, db.Close())
	}
	scan(f, "after the rename")
	mustClose(t, f)
	f = mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, f)
	scan(f, "after a reopen")
}
