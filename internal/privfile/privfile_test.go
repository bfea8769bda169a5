//go:build unix

package privfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCreateMode: the file is 0600 whatever the umask, including one that
// would take the owner's write bit.
func TestCreateMode(t *testing.T) {
	for _, mask := range []int{0o000, 0o022, 0o277} {
		old := syscall.Umask(mask)
		name := filepath.Join(t.TempDir(), "f")
		f, err := Create(name)
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("umask %03o: %v", mask, err)
		}
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if fi, err := os.Stat(name); err != nil || fi.Mode() != Mode {
			t.Fatalf("umask %03o: mode %v (%v), want %v", mask, fi.Mode(), err, Mode)
		}
	}
}

// TestCreateRefusesSymlink: a symlink at the name, to a file or dangling,
// is not followed; the error names the file; the target is untouched.
func TestCreateRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	for _, target := range []string{victim, filepath.Join(dir, "nowhere")} {
		name := filepath.Join(dir, "tmp")
		os.Remove(name)
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
		f, err := Create(name)
		if err == nil {
			f.Close()
			t.Fatalf("Create through a symlink to %s succeeded", target)
		}
		if !errors.Is(err, ErrInTheWay) || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("Create through a symlink = %v, want ErrInTheWay naming %s", err, name)
		}
		if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the dangling symlink's target was created: %v", err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("victim reads %q", b)
	}
}

// TestCreateReplacesLeftover: a regular file at the name (a crash's
// leftover) is replaced by a new file, so a hard link planted there does
// not carry the writes to the file it shares.
func TestCreateReplacesLeftover(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	name := filepath.Join(dir, "tmp")
	if err := os.Link(victim, name); err != nil {
		t.Fatal(err)
	}
	f, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	f.Close()
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("victim reads %q after a Create over its hard link", b)
	}
	if b, _ := os.ReadFile(name); string(b) != "new" {
		t.Fatalf("new file reads %q", b)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(filepath.Join(dir, "d")); !errors.Is(err, ErrInTheWay) {
		t.Fatalf("Create over a directory = %v, want ErrInTheWay", err)
	}
}
