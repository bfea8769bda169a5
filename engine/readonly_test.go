package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// fileSnap is what a read-only open must not change about one file or
// directory.
type fileSnap struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
	data  string
}

// snapshotTrees records every file and directory under roots (name, mode,
// size, mtime, bytes). A directory's mtime changes with any file created
// or removed in it, even one removed again.
func snapshotTrees(t testing.TB, roots ...string) map[string]fileSnap {
	t.Helper()
	out := map[string]fileSnap{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == root {
					return nil
				}
				return err
			}
			if n := filepath.Base(p); runtime.GOOS != "linux" && (n == lockFile || n == PebbleLockFile) {
				return nil // locked exclusively there, which sets the mtime
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			s := fileSnap{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				s.data = string(b)
			}
			if fi.IsDir() {
				s.size = 0 // a directory's size is the filesystem's business
			}
			out[p] = s
			return nil
		})
		noErr(t, err)
	}
	return out
}

// diffSnaps describes how two snapshots differ, "" if they do not.
func diffSnaps(before, after map[string]fileSnap) string {
	var d []string
	for _, p := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[p]
		switch b := before[p]; {
		case !ok:
			d = append(d, "removed "+p)
		case a.mode != b.mode, a.size != b.size, !a.mtime.Equal(b.mtime), a.data != b.data:
			d = append(d, fmt.Sprintf("changed %s (mode %v→%v, size %d→%d, mtime %v→%v, same bytes %v)",
				p, b.mode, a.mode, b.size, a.size, b.mtime, a.mtime, a.data == b.data))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[p]; !ok {
			d = append(d, "created "+p)
		}
	}
	return strings.Join(d, "\n")
}

// roStore is a store on the real disk, written by Pebble with its WAL
// directory outside the store, in a state a writable open would change.
type roStore struct {
	dir, wal string
	cfg      Config // what a reader opens it with
	keys     int
}

// roStates are the states a writable open changes, and all of them at
// once.
var roStates = []string{"clean", "stale-key", "torn-tail", "wal-missing", "previous-master", "leftovers", "all"}

// newROStore builds a store in state. Pebble's memtable is not flushed,
// so the keys are in the WAL only.
func newROStore(t testing.TB, state string) roStore {
	t.Helper()
	root := t.TempDir()
	s := roStore{dir: filepath.Join(root, "db"), wal: filepath.Join(root, "wal"), keys: 100}
	all := state == "all"
	cfg := testConfig(t, keys.MethodAES128CTR)
	if all || state == "stale-key" {
		cfg.Now = func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }
	}
	f := mustOpen(t, vfs.Default, s.dir, cfg)
	opts := pebbleOptions(f)
	opts.WALDir = s.wal
	db, err := pebble.Open(s.dir, opts)
	noErr(t, err)
	for i := range s.keys {
		noErr(t, db.Set(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%04d", i), pebble.NoSync))
	}
	noErr(t, db.Close())
	if all || state == "leftovers" {
		// A re-encryption's partial copy, which a writable open removes.
		w, err := f.Create(filepath.Join(s.dir, "000123.sst"+reencryptSuffix), vfs.WriteCategoryUnspecified)
		noErr(t, err)
		_, err = w.Write([]byte("partial"))
		noErr(t, errors.Join(err, w.Sync(), w.Close()))
	}
	mustClose(t, f)
	if all || state == "leftovers" {
		// A registry write a crash interrupted, which a writable open removes.
		noErr(t, os.WriteFile(filepath.Join(s.dir, keys.RegistryFile+".tmp"), []byte("partial"), 0o600))
	}
	if all || state == "torn-tail" {
		// What a crash mid-append leaves after the last record.
		logs, err := filepath.Glob(filepath.Join(s.dir, dictLogPrefix+"*"))
		noErr(t, err)
		fh, err := os.OpenFile(logs[0], os.O_WRONLY|os.O_APPEND, 0)
		noErr(t, err)
		_, err = fh.Write([]byte{0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0})
		noErr(t, errors.Join(err, fh.Close()))
	}
	if all || state == "wal-missing" {
		noErr(t, os.Rename(s.wal, s.wal+".unmounted"))
	}
	s.cfg = cfg
	s.cfg.Now = nil
	if all || state == "previous-master" {
		s.cfg.PreviousMasterKey = cfg.MasterKey
		s.cfg.MasterKey = MasterKeyConfig{Type: "file", Path: writeHexKey(t)}
	}
	s.cfg.ReadOnly = true
	return s
}

// TestReadOnlyChangesNothing opens stores in every state a writable open
// would change with Config.ReadOnly, uses everything a reader may
// (Status, Files, DataKeyHex, reads, Pebble read-only) and tries every
// write: not a byte, mode or mtime changes in the store or its WAL
// directory, and every write fails with ErrReadOnly.
func TestReadOnlyChangesNothing(t *testing.T) {
	for _, state := range roStates {
		t.Run(state, func(t *testing.T) {
			s := newROStore(t, state)
			before := snapshotTrees(t, filepath.Dir(s.dir))
			time.Sleep(10 * time.Millisecond) // so a rewrite would show in an mtime

			var logs syncLogBuffer
			s.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			f, err := Open(vfs.Default, s.dir, s.cfg)
			noErr(t, err)
			st := f.Status()
			if st.DictionaryPath == "" || st.DictionaryBytes == 0 || st.DictionaryEntries == 0 {
				t.Errorf("Status of a read-only FS: dictionary %q, %d bytes, %d entries", st.DictionaryPath, st.DictionaryBytes, st.DictionaryEntries)
			}
			// A read-only FS never learns where the WAL directory is
			// (only Pebble knows): its files are unseen, whether it is
			// there or not.
			if st.MissingDirEntries != 0 || st.UnseenDirEntries == 0 {
				t.Errorf("Status: %d entries in missing directories %v, %d in unseen ones %v", st.MissingDirEntries, st.MissingDirs, st.UnseenDirEntries, st.UnseenDirs)
			}
			if strings.Contains(logs.String(), "new data key") {
				t.Errorf("a read-only open made a data key: %s", logs.String())
			}
			files, err := f.Files()
			noErr(t, err)
			for _, fi := range files {
				if fi.KeyID != 0 {
					if _, err := f.DataKeyHex(fi.KeyID); err != nil {
						t.Errorf("DataKeyHex(%x): %v", fi.KeyID, err)
					}
				}
				if fi.Present && strings.HasSuffix(fi.Path, ".log") {
					r, err := f.Open(filepath.Join(s.dir, fi.Path))
					noErr(t, err)
					_, err = io.ReadAll(r)
					noErr(t, errors.Join(err, r.Close()))
				}
			}
			checkRefusals(t, f, s.dir)
			if state != "wal-missing" && state != "all" {
				// Pebble opens it read-only and reads every key, from the WAL.
				opts := pebbleOptions(f)
				opts.WALDir, opts.ReadOnly = s.wal, true
				db, err := pebble.Open(s.dir, opts)
				noErr(t, err)
				for i := range s.keys {
					v, c, err := db.Get(fmt.Appendf(nil, "k%04d", i))
					if err != nil || string(v) != fmt.Sprintf("v%04d", i) {
						t.Fatalf("k%04d = %q, %v", i, v, err)
					}
					c.Close()
				}
				noErr(t, db.Close())
			}
			mustClose(t, f)
			if d := diffSnaps(before, snapshotTrees(t, filepath.Dir(s.dir))); d != "" {
				t.Fatalf("a read-only open changed the disk:\n%s", d)
			}
		})
	}
}

// checkRefusals tries every write-side method of f: each fails with
// ErrReadOnly.
func checkRefusals(t *testing.T, f *FS, dir string) {
	t.Helper()
	existing := filepath.Join(dir, "OPTIONS-000003")
	if _, err := os.Stat(existing); err != nil {
		names, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
		existing = names[0]
	}
	newName := filepath.Join(dir, "new.sst")
	ctx := context.Background()
	ops := map[string]error{}
	_, ops["Create"] = f.Create(newName, vfs.WriteCategoryUnspecified)
	_, ops["OpenReadWrite"] = f.OpenReadWrite(existing, vfs.WriteCategoryUnspecified)
	_, ops["OpenReadWrite new"] = f.OpenReadWrite(newName, vfs.WriteCategoryUnspecified)
	_, ops["ReuseForWrite"] = f.ReuseForWrite(existing, newName, vfs.WriteCategoryUnspecified)
	ops["Rename"] = f.Rename(existing, newName)
	ops["Link"] = f.Link(existing, newName)
	ops["Remove"] = f.Remove(existing)
	ops["RemoveAll"] = f.RemoveAll(filepath.Join(dir, "sub"))
	ops["MkdirAll"] = f.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	ops["RotateDataKey"] = f.RotateDataKey()
	ops["RotateMasterKey"] = f.RotateMasterKey(MasterKeyConfig{Type: "file", Path: writeHexKey(t)})
	ops["Reencrypt"] = f.Reencrypt(ctx, nil)
	ops["ReencryptAll"] = f.ReencryptAll(ctx, nil)
	for name, err := range ops {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only FS: %v, want ErrReadOnly", name, err)
		}
	}
}

// TestReadOnlyOpenErrors: a read-only open of a directory that is not a
// store, or under a wrong master key, fails and creates nothing.
func TestReadOnlyOpenErrors(t *testing.T) {
	root := t.TempDir()
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.ReadOnly = true
	before := snapshotTrees(t, root)
	if _, err := Open(vfs.Default, filepath.Join(root, "none"), cfg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open of a missing directory: %v", err)
	}
	if _, err := Open(vfs.Default, root, cfg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open of a directory with no registry: %v", err)
	}
	if d := diffSnaps(before, snapshotTrees(t, root)); d != "" {
		t.Fatalf("a failed read-only open changed the disk:\n%s", d)
	}

	s := newROStore(t, "clean")
	before = snapshotTrees(t, filepath.Dir(s.dir))
	s.cfg.MasterKey = MasterKeyConfig{Type: "file", Path: writeHexKey(t)}
	if _, err := Open(vfs.Default, s.dir, s.cfg); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Errorf("read-only open under a wrong master key: %v", err)
	}
	if d := diffSnaps(before, snapshotTrees(t, filepath.Dir(s.dir))); d != "" {
		t.Fatalf("a failed read-only open changed the disk:\n%s", d)
	}
}

// TestWritableOpenOfMissingWALDir: the writable open of a store whose WAL
// directory is missing keeps its entries; once the directory is back,
// Pebble replays the WAL and reads every key.
func TestWritableOpenOfMissingWALDir(t *testing.T) {
	s := newROStore(t, "wal-missing")
	cfg := s.cfg
	cfg.ReadOnly = false
	f := mustOpen(t, vfs.Default, s.dir, cfg)
	mustClose(t, f)
	noErr(t, os.Rename(s.wal+".unmounted", s.wal))
	f = mustOpen(t, vfs.Default, s.dir, cfg)
	defer mustClose(t, f)
	opts := pebbleOptions(f)
	opts.WALDir = s.wal
	db, err := pebble.Open(s.dir, opts)
	noErr(t, err)
	defer db.Close()
	for i := range s.keys {
		v, c, err := db.Get(fmt.Appendf(nil, "k%04d", i))
		if err != nil || !bytes.Equal(v, fmt.Appendf(nil, "v%04d", i)) {
			t.Fatalf("k%04d = %q, %v", i, v, err)
		}
		c.Close()
	}
}
