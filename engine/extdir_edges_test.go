package engine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// TestRenameExtDirQueuedRemoval: a file removed in a directory
// outside the store leaves its entry's drop queued behind a sync of that
// directory; renaming the directory through the FS must not leave that
// sync unreachable, which failed every later dictionary append (every
// create of the store) until a reopen.
func TestRenameExtDirQueuedRemoval(t *testing.T) {
	mem := vfs.NewMem()
	noErr(t, mem.MkdirAll("/wal", 0o755))
	f := mustOpen(t, mem, "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	inspectWrite(t, f, "/wal/1.log", "one "+canary)
	inspectWrite(t, f, "/wal/2.log", "two "+canary)
	noErr(t, f.Remove("/wal/1.log"))
	noErr(t, f.Rename("/wal", "/wal2"))
	w, err := f.Create("/s/000001.sst", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatalf("create in the store after renaming a directory outside it: %v", err)
	}
	noErr(t, w.Close())
	if got, err := ecReadFile(f, "/wal2/2.log"); err != nil || string(got) != "two "+canary {
		t.Fatalf("/wal2/2.log: %q, %v", got, err)
	}
}

// TestRemoveExtLinkQueuedRemoval: the same through RemoveAll of a
// symbolic link to the directory: the link goes, the directory stays, and
// removals queued behind its sync must still be written, through the link
// or through the directory's own name.
func TestRemoveExtLinkQueuedRemoval(t *testing.T) {
	root := t.TempDir()
	wal, link := filepath.Join(root, "wal"), filepath.Join(root, "link")
	noErr(t, os.MkdirAll(wal, 0o755))
	noErr(t, os.Symlink(wal, link))
	store := filepath.Join(root, "s")
	f := mustOpen(t, vfs.Default, store, testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	inspectWrite(t, f, filepath.Join(wal, "2.log"), "two "+canary)
	inspectWrite(t, f, filepath.Join(link, "1.log"), "one "+canary) // seen last there
	noErr(t, f.Remove(filepath.Join(link, "1.log")))
	noErr(t, f.RemoveAll(link))
	noErr(t, f.Remove(filepath.Join(wal, "2.log")))
	w, err := f.Create(filepath.Join(store, "000001.sst"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatalf("create in the store after removing a link to a directory outside it: %v", err)
	}
	noErr(t, w.Close())
}

// TestRemoveAllLinkTrailingSlash: RemoveAll("link/") removes only
// the link (os.RemoveAll strips the slash), but Lstat("link/") follows it:
// the entries of the live target's files were dropped, and they read as
// missing (garbage in a store that is not strict).
func TestRemoveAllLinkTrailingSlash(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "s")
	f := mustOpen(t, vfs.Default, store, testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	for _, c := range []struct{ target, link string }{
		{filepath.Join(root, "wal"), filepath.Join(root, "wal-link")},   // outside the store
		{filepath.Join(store, "aux"), filepath.Join(store, "aux-link")}, // in it
	} {
		noErr(t, os.MkdirAll(c.target, 0o755))
		inspectWrite(t, f, filepath.Join(c.target, "1.log"), "one "+canary)
		noErr(t, os.Symlink(c.target, c.link))
		inspectWrite(t, f, filepath.Join(c.link, "2.log"), "two "+canary)
		noErr(t, f.RemoveAll(c.link+string(filepath.Separator)))
		if _, err := os.Lstat(c.link); !os.IsNotExist(err) {
			t.Fatalf("the link %s is still there: %v", c.link, err)
		}
		if got, err := ecReadFile(f, filepath.Join(c.target, "1.log")); err != nil || string(got) != "one "+canary {
			t.Errorf("%s after RemoveAll(%s/): %q, %v", c.target, c.link, got, err)
		}
		// Made again, the link reads what was written through it.
		noErr(t, os.Symlink(c.target, c.link))
		if got, err := ecReadFile(f, filepath.Join(c.link, "2.log")); err != nil || string(got) != "two "+canary {
			t.Errorf("%s/2.log after RemoveAll(%s/) and a new link: %q, %v", c.link, c.link, got, err)
		}
	}
}

// TestRenameLegacyExtDir: a directory outside the store whose
// files an older version keyed "../wal/N.log", renamed through the FS
// before Pebble named it, kept its entries under the old name: every file
// of it read as missing. The rename must carry them, as it did before
// directory identifiers; RemoveAll must drop them (kept, they hold their
// data keys forever).
func TestRenameLegacyExtDir(t *testing.T) {
	for _, op := range []string{"rename", "rename parent", "remove"} {
		t.Run(op, func(t *testing.T) {
			mem := vfs.NewMem()
			noErr(t, mem.MkdirAll("/x/wal", 0o755))
			cfg := testConfig(t, keys.MethodAES128CTR)
			f := mustOpen(t, mem, "/s", cfg)
			inspectWrite(t, f, "/x/wal/1.log", "one "+canary)
			legacyEntries(t, mem, f, "/x/wal", "../x/wal")
			mustClose(t, f)

			f = mustOpen(t, mem, "/s", cfg)
			defer mustClose(t, f)
			if op == "remove" {
				noErr(t, f.RemoveAll("/x"))
				if paths := entryPaths(t, f); len(paths) != 0 {
					t.Fatalf("entries left after RemoveAll: %v", paths)
				}
				return
			}
			from, to, read := "/x/wal", "/x/wal2", "/x/wal2/1.log"
			if op == "rename parent" {
				from, to, read = "/x", "/y", "/y/wal/1.log"
			}
			noErr(t, f.Rename(from, to))
			if got, err := ecReadFile(f, read); err != nil || string(got) != "one "+canary {
				t.Fatalf("after renaming %s to %s: %q, %v", from, to, got, err)
			}
		})
	}
}

// legacyEntries rewrites the entries of dir's files (an open FS on mem)
// in the "../" form of older versions, under legacy, and removes dir's
// identifier, as a store written by such a version has them.
func legacyEntries(t *testing.T, mem vfs.FS, f *FS, dir, legacy string) {
	t.Helper()
	ext := extName(t, mem, dir)
	for _, p := range entryPaths(t, f) {
		if !isExt(p) || extRdir(p) != ext {
			continue
		}
		e, _ := f.dict.get(p)
		noErr(t, f.dict.put(legacy+"/"+p[len(ext)+1:], e))
		noErr(t, f.dict.remove(p))
	}
	noErr(t, mem.Remove(mem.PathJoin(dir, dirIDFile)))
}

// TestStoreUnderAnotherName: an FS opened on a symbolic link to
// the store, with Pebble given the store's real path (or the reverse
// through a link to a directory in it), took the store for a directory
// outside itself: it wrote TDE-DIR into the store and keyed every file
// TDE-EXT-<id>/..., so that the next open that names the store one way
// finds no entry for any file (garbage if the store is not strict). Such
// a name is refused with ErrOutsideStore, writing nothing.
func TestStoreUnderAnotherName(t *testing.T) {
	root := t.TempDir()
	dir, link := filepath.Join(root, "db"), filepath.Join(root, "link")
	noErr(t, os.MkdirAll(filepath.Join(dir, "aux"), 0o755))
	noErr(t, os.Symlink(dir, link))
	f := mustOpen(t, vfs.Default, link, testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	for _, name := range []string{filepath.Join(dir, "000001.log"), filepath.Join(dir, "aux", "000002.sst")} {
		w, err := f.Create(name, vfs.WriteCategoryUnspecified)
		if err == nil {
			w.Close()
		}
		if !errors.Is(err, ErrOutsideStore) {
			t.Errorf("Create(%s) through an FS opened as %s: %v, want ErrOutsideStore", name, link, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(name), dirIDFile)); !os.IsNotExist(err) {
			t.Errorf("%s got an identifier, as a directory outside the store: %v", filepath.Dir(name), err)
		}
	}
	// Through the name the FS knows, the store works.
	inspectWrite(t, f, filepath.Join(link, "000003.log"), "three "+canary)
	if got, err := ecReadFile(f, filepath.Join(link, "000003.log")); err != nil || string(got) != "three "+canary {
		t.Fatalf("%q, %v", got, err)
	}
}
