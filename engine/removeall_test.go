package engine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// TestRemoveAllOfSymlinkKeepsEntries: RemoveAll of a symbolic link to a
// directory removes the link alone; the files reached through it are still
// in its target, so their entries stay, and a link made again reads them.
// On main the entries were dropped: the files had no entry any more.
func TestRemoveAllOfSymlinkKeepsEntries(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "s")
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, vfs.Default, dir, cfg)
	if err := os.Mkdir(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "lnk")
	if err := os.Symlink(filepath.Join(root, "real"), link); err != nil {
		t.Fatal(err)
	}
	want := []byte("reached through a link")
	w, err := f.Create(filepath.Join(link, "x"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(append([]byte(nil), want...)); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Sync(), w.Close()); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveAll(link); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "real", "x")); err != nil {
		t.Fatalf("the link's target lost its file: %v", err)
	}
	mustClose(t, f)
	if err := os.Symlink(filepath.Join(root, "real"), link); err != nil {
		t.Fatal(err)
	}
	f = mustOpen(t, vfs.Default, dir, cfg)
	defer mustClose(t, f)
	r, err := f.Open(filepath.Join(link, "x"))
	if err != nil {
		t.Fatalf("the file behind the link made again: %v", err)
	}
	defer r.Close()
	got := make([]byte, len(want))
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}
