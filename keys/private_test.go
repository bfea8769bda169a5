//go:build unix

package keys

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOSFSRegistryPrivate: through OSFS, the registry is 0600 even under
// umask 0, and a symlink planted at its temporary name makes the rewrite
// fail naming it, with the file it points to unchanged.
func TestOSFSRegistryPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	r := mustOpen(t, OSFS{}, dir, cfgWith(fileKey(t), MethodAES128CTR, newClock()))
	path := filepath.Join(dir, RegistryFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode() != 0o600 {
		t.Fatalf("%s: mode %v (%v), want 0600", path, fi.Mode(), err)
	}

	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	tmp := path + ".tmp"
	if err := os.Symlink(victim, tmp); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := r.RotateDataKey(context.Background())
	if err == nil || !strings.Contains(err.Error(), tmp) {
		t.Fatalf("RotateDataKey with a symlink at %s = %v, want an error naming it", tmp, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("victim reads %q", b)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the registry changed though its rewrite failed")
	}
}
