package engine

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pwal "github.com/cockroachdb/pebble/v2/wal"
	"github.com/tde-go/tde/keys"
)

// walStore writes n keys through Pebble on the disk with its WAL in wal,
// outside the store dir, and closes it without a flush: the keys are in
// the WAL only.
func walStore(t *testing.T, dir, wal string, cfg Config, n int) {
	t.Helper()
	f := mustOpen(t, vfs.Default, dir, cfg)
	opts := pebbleOptions(f)
	opts.WALDir = wal
	db, err := pebble.Open(dir, opts)
	noErr(t, err)
	for i := range n {
		noErr(t, db.Set(canaryKey(i), canaryValue(i), pebble.Sync))
	}
	noErr(t, db.Close())
	mustClose(t, f)
}

// readWALStore opens the store in dir with its WAL in wal and reads the n
// keys back.
func readWALStore(t *testing.T, dir, wal string, cfg Config, n int) *FS {
	t.Helper()
	f := mustOpen(t, vfs.Default, dir, cfg)
	opts := pebbleOptions(f)
	opts.WALDir, opts.ReadOnly = wal, cfg.ReadOnly
	db, err := pebble.Open(dir, opts)
	if err != nil {
		mustClose(t, f)
		t.Fatalf("pebble.Open(%s, WALDir %s): %v", dir, wal, err)
	}
	err = readKeys(db, n)
	noErr(t, db.Close())
	if err != nil {
		mustClose(t, f)
		t.Fatalf("store %s, WAL %s: %v", dir, wal, err)
	}
	return f
}

// entryPaths returns the paths of f's dictionary entries.
func entryPaths(t *testing.T, f *FS) []string {
	t.Helper()
	files, err := f.Files()
	noErr(t, err)
	var paths []string
	for _, fi := range files {
		if fi.Entry {
			paths = append(paths, fi.Path)
		}
	}
	return paths
}

// TestExternalDirsMoveApart: the entries of a WAL directory outside the
// store never name a path with "..", and the store and the WAL directory
// can each move anywhere while closed: reopened with the new WALDir, every
// key reads back.
func TestExternalDirsMoveApart(t *testing.T) {
	root := t.TempDir()
	dir, wal := filepath.Join(root, "a", "db"), filepath.Join(root, "w", "wal")
	cfg := testConfig(t, keys.MethodAES128CTR)
	const n = 300
	walStore(t, dir, wal, cfg, n)

	f := mustOpen(t, vfs.Default, dir, cfg)
	ext := 0
	for _, p := range entryPaths(t, f) {
		if strings.Contains(p, "..") || filepath.IsAbs(p) {
			t.Errorf("dictionary entry %q leaves the store", p)
		}
		if strings.HasPrefix(p, extName(t, vfs.Default, wal)+"/") {
			ext++
		}
	}
	if ext == 0 {
		t.Fatalf("no entry for the WAL directory: %v", entryPaths(t, f))
	}
	mustClose(t, f)

	dir2, wal2 := filepath.Join(root, "b", "c", "db2"), filepath.Join(root, "x", "wal2")
	for from, to := range map[string]string{dir: dir2, wal: wal2} {
		noErr(t, os.MkdirAll(filepath.Dir(to), 0o755))
		noErr(t, os.Rename(from, to))
	}
	// Pebble must be told the WAL directory moved (WALRecoveryDirs, which
	// it lists: an empty directory where it was); the engine needs nothing.
	noErr(t, os.MkdirAll(wal, 0o755))
	f = mustOpen(t, vfs.Default, dir2, cfg)
	defer mustClose(t, f)
	opts := pebbleOptions(f)
	opts.WALDir = wal2
	opts.WALRecoveryDirs = []pwal.Dir{{FS: f, Dirname: wal}}
	db, err := pebble.Open(dir2, opts)
	noErr(t, err)
	defer db.Close()
	noErr(t, readKeys(db, n))
}

// TestExternalDirLegacyEntries: a store whose dictionary keys its WAL
// directory's files under "../" (as versions before directory identifiers
// did) reads back read-only without a change to the disk, and the first
// writable open re-keys them under the directory's identifier.
func TestExternalDirLegacyEntries(t *testing.T) {
	root := t.TempDir()
	dir, wal := filepath.Join(root, "db"), filepath.Join(root, "wal")
	cfg := testConfig(t, keys.MethodSM4CTR)
	const n = 100
	walStore(t, dir, wal, cfg, n)

	// Rewrite the dictionary in the old form.
	d, err := readDictionary(vfs.Default, dir, quietOpts())
	noErr(t, err)
	ext := extName(t, vfs.Default, wal)
	legacy := map[string]entry{}
	for rel, e := range dictContents(d) {
		if isExt(rel) {
			rel = "../wal/" + strings.TrimPrefix(rel, ext+"/")
		}
		legacy[rel] = e
	}
	d.marker.Close()
	craftDiskLog(t, dir, legacy)
	noErr(t, os.Remove(filepath.Join(wal, dirIDFile)))

	ro := cfg
	ro.ReadOnly = true
	before := snapshotTrees(t, root)
	mustClose(t, readWALStore(t, dir, wal, ro, n))
	if diff := diffSnaps(before, snapshotTrees(t, root)); diff != "" {
		t.Fatalf("a read-only open of a store with old entries changed the disk:\n%s", diff)
	}

	f := readWALStore(t, dir, wal, cfg, n)
	defer mustClose(t, f)
	ext = extName(t, vfs.Default, wal)
	moved := 0
	for _, p := range entryPaths(t, f) {
		if strings.Contains(p, "..") {
			t.Errorf("entry %q still in the old form after a writable open", p)
		}
		if strings.HasPrefix(p, ext+"/") {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no entry re-keyed under %s: %v", ext, entryPaths(t, f))
	}
}

// TestExternalDirBadIdentifier: a TDE-DIR that is not an identifier fails
// opens and creates in its directory with ErrCorruptDictionary naming it,
// creating nothing; a torn temporary one left by a crash is ignored.
func TestExternalDirBadIdentifier(t *testing.T) {
	mem := vfs.NewMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	noErr(t, mem.MkdirAll("/wal2", 0o755))
	cfg := testConfig(t, keys.MethodAES256CTR)
	f := mustOpen(t, mem, "/s", cfg)
	inspectWrite(t, f, "/wal/1.log", "a log "+canary)
	mustClose(t, f)
	for _, bad := range []string{"", "TDEDIR", strings.Repeat("x", dirIDLen), dirIDMagic + strings.Repeat("y", 17)} {
		w, err := mem.Create("/wal/"+dirIDFile, vfs.WriteCategoryUnspecified)
		noErr(t, err)
		_, err = w.Write([]byte(bad))
		noErr(t, err)
		noErr(t, w.Close())
		f := mustOpen(t, mem, "/s", cfg)
		if _, err := f.Open("/wal/1.log"); !errors.Is(err, ErrCorruptDictionary) || !strings.Contains(err.Error(), "/wal/"+dirIDFile) {
			t.Errorf("Open with TDE-DIR %q: %v, want ErrCorruptDictionary naming it", bad, err)
		}
		if _, err := f.Create("/wal/2.log", vfs.WriteCategoryUnspecified); !errors.Is(err, ErrCorruptDictionary) {
			t.Errorf("Create with TDE-DIR %q: %v, want ErrCorruptDictionary", bad, err)
		}
		if _, err := mem.Stat("/wal/2.log"); !oserror.IsNotExist(err) {
			t.Errorf("Create with TDE-DIR %q made the file: %v", bad, err)
		}
		mustClose(t, f)
	}

	// A torn temporary identifier: a new one is made.
	w, err := mem.Create("/wal2/"+dirIDTemp, vfs.WriteCategoryUnspecified)
	noErr(t, err)
	_, err = w.Write([]byte("TDED"))
	noErr(t, err)
	noErr(t, w.Close())
	f = mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, f)
	inspectWrite(t, f, "/wal2/1.log", "another log "+canary)
	if got, err := ecReadFile(f, "/wal2/1.log"); err != nil || string(got) != "another log "+canary {
		t.Errorf("after a torn temporary identifier: %q, %v", got, err)
	}
	if _, err := mem.Stat("/wal2/" + dirIDTemp); !oserror.IsNotExist(err) {
		t.Errorf("the temporary identifier is left: %v", err)
	}
}

// TestExternalDirSettledWhenSeen: the entries of a directory outside the
// store are kept, with their keys, until Pebble names the directory, and
// after: a file missing from it may be in a copy of it (which carries the
// same identifier), so its entry stays until the FS removes the file.
func TestExternalDirSettledWhenSeen(t *testing.T) {
	mem := vfs.NewMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, mem, "/s", cfg)
	inspectWrite(t, f, "/wal/1.log", "first "+canary)
	inspectWrite(t, f, "/wal/2.log", "second "+canary)
	old := f.Status().ActiveKey.ID
	noErr(t, f.RotateDataKey())
	mustClose(t, f)
	noErr(t, mem.Remove("/wal/1.log")) // behind the store's back

	f = mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, f)
	if st := f.Status(); st.UnseenDirEntries != 2 || len(st.UnseenDirs) != 1 {
		t.Errorf("before the directory is named: %d unseen entries in %v, want 2 in one", st.UnseenDirEntries, st.UnseenDirs)
	}
	if _, err := f.DataKeyHex(old); err != nil {
		t.Fatalf("the key of the unseen files was dropped: %v", err)
	}
	if got, err := ecReadFile(f, "/wal/2.log"); err != nil || string(got) != "second "+canary {
		t.Fatalf("/wal/2.log: %q, %v", got, err)
	}
	st := f.Status()
	if st.UnseenDirEntries != 0 {
		t.Errorf("after the directory was named: %d unseen entries", st.UnseenDirEntries)
	}
	ext := extName(t, mem, "/wal")
	paths := strings.Join(entryPaths(t, f), " ")
	if !strings.Contains(paths, ext+"/1.log") || !strings.Contains(paths, ext+"/2.log") {
		t.Errorf("entries after the directory was named: %v, want both", paths)
	}
	if _, err := f.DataKeyHex(old); err != nil {
		t.Errorf("the key of the kept entries was dropped: %v", err)
	}
}

// TestExternalDirCopy: a copy of the WAL directory carries its identifier.
// The WAL directory copied elsewhere, its logs then deleted from the
// original (rm wal/*.log, which leaves TDE-DIR), Pebble is given the copy
// and the original for recovery: the original, seen first and empty,
// drops none of the copy's entries, and every key reads back.
func TestExternalDirCopy(t *testing.T) {
	root := t.TempDir()
	dir, wal, wal2 := filepath.Join(root, "db"), filepath.Join(root, "wal"), filepath.Join(root, "wal2")
	cfg := testConfig(t, keys.MethodAES128CTR)
	walStore(t, dir, wal, cfg, 100)
	noErr(t, os.CopyFS(wal2, os.DirFS(wal)))
	logs, err := filepath.Glob(filepath.Join(wal, "*.log"))
	noErr(t, err)
	for _, l := range logs {
		noErr(t, os.Remove(l))
	}

	// Pebble on the copy, with the original for recovery, writes more.
	open := func() (*FS, *pebble.DB) {
		f := mustOpen(t, vfs.Default, dir, cfg)
		if _, err := f.Open(filepath.Join(wal, dirIDFile+"-none")); err == nil {
			t.Fatal("a file that does not exist opened")
		} // the original is seen first
		opts := pebbleOptions(f)
		opts.WALDir = wal2
		opts.WALRecoveryDirs = []pwal.Dir{{FS: f, Dirname: wal}}
		db, err := pebble.Open(dir, opts)
		noErr(t, err)
		return f, db
	}
	f, db := open()
	noErr(t, readKeys(db, 100))
	for i := 100; i < 200; i++ {
		noErr(t, db.Set(canaryKey(i), canaryValue(i), pebble.Sync))
	}
	noErr(t, db.Close())
	mustClose(t, f)

	f, db = open()
	defer mustClose(t, f)
	defer db.Close()
	noErr(t, readKeys(db, 200))
}

// TestExternalDirLostIdentifier: a WAL directory whose files were moved
// without their TDE-DIR is refused with ErrLostMetadata naming it, not
// read as a directory whose files have no entries.
func TestExternalDirLostIdentifier(t *testing.T) {
	mem := vfs.NewMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, mem, "/s", cfg)
	inspectWrite(t, f, "/wal/000004.log", "a log "+canary)
	mustClose(t, f)
	noErr(t, mem.MkdirAll("/wal2", 0o755))
	noErr(t, mem.Rename("/wal/000004.log", "/wal2/000004.log")) // TDE-DIR left behind

	f = mustOpen(t, mem, "/s", cfg)
	defer mustClose(t, f)
	for _, op := range []func() error{
		func() error { _, err := f.Open("/wal2/000004.log"); return err },
		func() error { _, err := f.Create("/wal2/000005.log", vfs.WriteCategoryUnspecified); return err },
	} {
		if err := op(); !errors.Is(err, ErrLostMetadata) || !strings.Contains(err.Error(), "/wal2/"+dirIDFile) {
			t.Errorf("a WAL directory without its identifier: %v, want ErrLostMetadata naming /wal2/%s", err, dirIDFile)
		}
	}
	if _, err := mem.Stat("/wal2/" + dirIDFile); !oserror.IsNotExist(err) {
		t.Errorf("the refused directory was given an identifier: %v", err)
	}
}

// TestExternalDirRenameRemove: a directory outside the store renamed
// through the FS keeps its files' entries; moved into the store it is
// refused, changing nothing; removed, its entries go.
func TestExternalDirRenameRemove(t *testing.T) {
	mem := vfs.NewMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	f := mustOpen(t, mem, "/s", testConfig(t, keys.MethodSM4CTR))
	defer mustClose(t, f)
	inspectWrite(t, f, "/wal/1.log", "a log "+canary)
	noErr(t, f.Rename("/wal", "/wal2"))
	if got, err := ecReadFile(f, "/wal2/1.log"); err != nil || string(got) != "a log "+canary {
		t.Fatalf("after renaming its directory: %q, %v", got, err)
	}
	if err := f.Rename("/wal2", "/s/wal"); !errors.Is(err, ErrOutsideStore) {
		t.Errorf("moving a directory into the store: %v, want ErrOutsideStore", err)
	}
	if _, err := mem.Stat("/wal2/1.log"); err != nil {
		t.Errorf("the refused move changed the disk: %v", err)
	}
	noErr(t, f.RemoveAll("/wal2"))
	for _, p := range entryPaths(t, f) {
		if isExt(p) {
			t.Errorf("entry %s left after its directory was removed", p)
		}
	}
	if st := f.Status(); st.UnseenDirEntries+st.MissingDirEntries != 0 {
		t.Errorf("Status after the removal: %+v", st)
	}
}

// TestExternalDirCrash: a crash at any point of the first file's creation
// in a directory outside the store (its identifier, its entry, its bytes)
// leaves a file that is absent, or reads back as a prefix of what was
// written: never garbage, never an error but its absence.
func TestExternalDirCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	cfg := testConfig(t, keys.MethodAES192CTR)
	hook := &crashHook{FS: mem, mem: mem, dir: "/wal"}
	f := mustOpen(t, hook, "/s", cfg)
	noErr(t, syncDirectory(mem, "/")) // the directories themselves are durable
	hook.armed.Store(true)
	data := bytes.Repeat([]byte("a record "+canary), 50)
	w, err := f.Create("/wal/000001.log", vfs.WriteCategoryUnspecified)
	noErr(t, err)
	_, err = w.Write(bytes.Clone(data))
	noErr(t, err)
	noErr(t, w.Sync())
	noErr(t, w.Close())
	d, err := f.OpenDir("/wal")
	noErr(t, err)
	noErr(t, d.Sync())
	noErr(t, d.Close())
	hook.armed.Store(false)
	mustClose(t, f)
	if len(hook.clones) < 20 {
		t.Fatalf("only %d crash points", len(hook.clones))
	}
	whole := 0
	for i, c := range hook.clones {
		cf, err := Open(c.fs, "/s", cfg)
		if err != nil {
			t.Fatalf("crash point %d (%s): Open: %v", i, c.where, err)
		}
		r, err := cf.Open("/wal/000001.log")
		switch {
		case oserror.IsNotExist(err):
		case err != nil:
			t.Errorf("crash point %d (%s): %v", i, c.where, err)
		default:
			got, err := io.ReadAll(r)
			noErr(t, err)
			noErr(t, r.Close())
			if !bytes.HasPrefix(data, got) {
				t.Errorf("crash point %d (%s): the file reads %d bytes of garbage", i, c.where, len(got))
			}
			if len(got) == len(data) {
				whole++
			}
		}
		mustClose(t, cf)
	}
	if whole == 0 {
		t.Error("no crash point reads the whole file, not even the last")
	}
}
