package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// TestDictKeepsMissingDirs: a directory that does not exist, or is not a
// directory, proves nothing about its files: their entries survive the
// open (and its rewrite, which a file gone from a directory that exists
// forces), and are there when the directory comes back.
func TestDictKeepsMissingDirs(t *testing.T) {
	fs := newDictStore(t)
	noErr(t, fs.MkdirAll("/waldir", 0o755))
	d := mustOpenDict(t, fs, quietOpts())
	want := map[string]entry{}
	for i, rel := range []string{"1.sst", "2.sst", "ckpt/1.sst", "../waldir/1.log", "../waldir/2.log", "../mnt/wal/1.log"} {
		putFile(t, fs, d, rel, testEntry(i))
		want[rel] = testEntry(i)
	}
	mustCloseDict(t, d)

	// The WAL volume is not mounted, the checkpoint moved away and a file
	// put in its place, and 2.sst removed behind the dictionary's back.
	noErr(t, fs.Rename("/waldir", "/waldir.away"))
	noErr(t, fs.RemoveAll("/mnt"))
	noErr(t, fs.Rename(testDictDir+"/ckpt", "/ckpt.away"))
	touchRel(t, fs, "ckpt")
	noErr(t, fs.Remove(testDictDir+"/2.sst"))
	delete(want, "2.sst")

	var logs syncLogBuffer
	d = mustRead(t, fs, dictOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	checkContents(t, d, want)
	for _, s := range []string{"directory is missing", "entries=4", "../mnt/wal", "../waldir", "ckpt"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log lacks %q: %s", s, logs.String())
		}
	}
	noErr(t, d.start(false))
	if got := listDictLogs(t, fs); len(got) != 1 || got[0] != "TDE-DICT-000002" {
		t.Fatalf("logs %v: collecting 2.sst should have rewritten the log", got)
	}
	mustCloseDict(t, d)

	noErr(t, fs.Rename("/waldir.away", "/waldir"))
	noErr(t, fs.Remove(testDictDir+"/ckpt"))
	noErr(t, fs.Rename("/ckpt.away", testDictDir+"/ckpt"))
	d = mustOpenDict(t, fs, quietOpts())
	delete(want, "../mnt/wal/1.log") // still missing: kept
	want["../mnt/wal/1.log"] = testEntry(5)
	checkContents(t, d, want)
	mustCloseDict(t, d)

	// Back, and now empty: the files are proven gone.
	noErr(t, fs.MkdirAll("/mnt/wal", 0o755))
	d = mustOpenDict(t, fs, quietOpts())
	delete(want, "../mnt/wal/1.log")
	checkContents(t, d, want)
	mustCloseDict(t, d)
}

// TestDictPendingMoveMissingSource: a move whose source directory is
// missing cannot be judged (the source's absence proves nothing), so it
// stays pending, through a rewrite, until the directory is back: then the
// open undoes it if the source is there, and keeps it otherwise.
func TestDictPendingMoveMissingSource(t *testing.T) {
	for _, renamed := range []bool{false, true} {
		fs := newDictStore(t)
		noErr(t, fs.MkdirAll("/waldir", 0o755))
		d := mustOpenDict(t, fs, quietOpts())
		src, dst := "../waldir/a.log", "b.log"
		putFile(t, fs, d, src, testEntry(1))
		putFile(t, fs, d, "../waldir/c.log", testEntry(2))
		noErr(t, d.put("gone.sst", testEntry(3))) // never created: forces a rewrite
		noErr(t, d.move(src, dst, testEntry(1)))
		if renamed {
			noErr(t, fs.Rename("/waldir/a.log", testDictDir+"/b.log"))
		} // else a crash before the rename
		mustCloseDict(t, d)

		noErr(t, fs.Rename("/waldir", "/waldir.away"))
		d = mustOpenDict(t, fs, quietOpts())
		if got := listDictLogs(t, fs); got[0] == "TDE-DICT-000001" {
			t.Fatalf("renamed=%v: logs %v: no rewrite", renamed, got)
		}
		if len(d.state.pending) != 2 {
			t.Fatalf("renamed=%v: pending moves %v, want the move kept", renamed, d.state.pending)
		}
		checkContents(t, d, map[string]entry{dst: testEntry(1), "../waldir/c.log": testEntry(2)})
		mustCloseDict(t, d)

		noErr(t, fs.Rename("/waldir.away", "/waldir"))
		d = mustOpenDict(t, fs, quietOpts())
		want := map[string]entry{"../waldir/c.log": testEntry(2)}
		if renamed {
			want[dst] = testEntry(1)
		} else {
			want[src] = testEntry(1)
		}
		checkContents(t, d, want)
		if len(d.state.pending) != 0 {
			t.Fatalf("renamed=%v: pending moves %v after the directory came back", renamed, d.state.pending)
		}
		mustCloseDict(t, d)
	}
}

// TestDictUnlistableDirIsAnError: a directory that exists but cannot be
// listed (permission denied, an I/O error) fails the open, naming it:
// nothing is dropped or written. Keeping its entries would hide from the
// operator a directory Pebble cannot use either.
func TestDictUnlistableDirIsAnError(t *testing.T) {
	fs := newDictStore(t)
	noErr(t, fs.MkdirAll("/wal", 0o755))
	d := mustOpenDict(t, fs, quietOpts())
	putFile(t, fs, d, "../wal/1.log", testEntry(1))
	mustCloseDict(t, d)
	efs := errorfs.Wrap(fs, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpList && op.Path == "/wal" {
			return os.ErrPermission
		}
		return nil
	}))
	before := treeBytes(t, fs, "/")
	if _, err := readDictionary(efs, testDictDir, quietOpts()); !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "../wal") {
		t.Fatalf("readDictionary with an unlistable directory: %v", err)
	}
	if !maps.Equal(before, treeBytes(t, fs, "/")) {
		t.Fatal("a failed read wrote to the store")
	}
}

// TestMissingDirKeepsKey: the entry of a file in a missing directory keeps
// its data key through an open (whose retain drops unused keys), Status
// reports it, and the file reads back once the directory is back.
func TestMissingDirKeepsKey(t *testing.T) {
	mem := vfs.NewMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, mem, "/s", cfg)
	data := bytes.Repeat([]byte("wal record "), 100)
	w, err := f.Create("/wal/000001.log", vfs.WriteCategoryUnspecified)
	noErr(t, err)
	_, err = w.Write(bytes.Clone(data)) // Write encrypts in place
	noErr(t, err)
	noErr(t, w.Sync())
	noErr(t, w.Close())
	old := f.Status().ActiveKey.ID
	noErr(t, f.RotateDataKey()) // the WAL's key is now only the entry's
	mustClose(t, f)

	noErr(t, mem.Rename("/wal", "/wal.unmounted"))
	f = mustOpen(t, mem, "/s", cfg)
	st := f.Status()
	ext := extName(t, mem, "/wal.unmounted")
	if st.UnseenDirEntries != 1 || !slices.Equal(st.UnseenDirs, []string{ext}) {
		t.Errorf("Status: %d entries in unseen directories %v, want 1 in [%s]", st.UnseenDirEntries, st.UnseenDirs, ext)
	}
	if _, err := f.DataKeyHex(old); err != nil {
		t.Errorf("the missing WAL's data key was dropped: %v", err)
	}
	mustClose(t, f)

	noErr(t, mem.Rename("/wal.unmounted", "/wal"))
	f = mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, f)
	r, err := f.Open("/wal/000001.log")
	noErr(t, err)
	if st := f.Status(); st.MissingDirEntries+st.UnseenDirEntries != 0 {
		t.Errorf("Status after the directory came back and was opened: %d entries in %v, %d in %v", st.MissingDirEntries, st.MissingDirs, st.UnseenDirEntries, st.UnseenDirs)
	}
	got, err := io.ReadAll(r)
	noErr(t, err)
	noErr(t, r.Close())
	if !bytes.Equal(got, data) {
		t.Fatal("the WAL reads back as garbage after its directory came back")
	}
}

// TestUnmountedWALDir: Pebble with its WAL directory outside the store,
// on the real disk. The store is opened while the WAL volume is not
// mounted (the directory renamed away), then the volume comes back: Pebble
// replays its WAL and reads every key.
func TestUnmountedWALDir(t *testing.T) {
	root := t.TempDir()
	store, wal := filepath.Join(root, "db"), filepath.Join(root, "wal")
	cfg := testConfig(t, keys.MethodAES256CTR)
	openDB := func(f *FS) *pebble.DB {
		opts := pebbleOptions(f)
		opts.WALDir = wal
		db, err := pebble.Open(store, opts)
		noErr(t, err)
		return db
	}
	f := mustOpen(t, vfs.Default, store, cfg)
	db := openDB(f)
	const n = 200
	for i := range n {
		noErr(t, db.Set(fmt.Appendf(nil, "key%04d", i), fmt.Appendf(nil, "value%04d", i), pebble.Sync))
	}
	noErr(t, db.Close()) // the memtable is not flushed: the keys are in the WAL only
	mustClose(t, f)

	noErr(t, os.Rename(wal, wal+".unmounted"))
	f = mustOpen(t, vfs.Default, store, cfg)
	if st := f.Status(); st.UnseenDirEntries == 0 {
		t.Errorf("Status reports no entries in directories outside the store: %+v", st)
	}
	mustClose(t, f)
	noErr(t, os.Rename(wal+".unmounted", wal))

	f = mustOpen(t, vfs.Default, store, cfg)
	defer mustClose(t, f)
	db = openDB(f)
	defer db.Close()
	for i := range n {
		v, c, err := db.Get(fmt.Appendf(nil, "key%04d", i))
		if err != nil {
			t.Fatalf("key%04d after the WAL volume came back: %v", i, err)
		}
		if want := fmt.Sprintf("value%04d", i); string(v) != want {
			t.Fatalf("key%04d = %q, want %q", i, v, want)
		}
		c.Close()
	}
}
