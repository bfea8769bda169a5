package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// idWrite creates name through f with data, synced.
func idWrite(t *testing.T, f *FS, name string, data []byte) {
	t.Helper()
	w, err := f.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	if _, err := w.Write(bytes.Clone(data)); err != nil { // Write encrypts in place
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// lockHelperEnv names the lock file the helper process tries to take.
const lockHelperEnv = "TDE_TEST_LOCK_FILE"

// TestHelperLockProcess is not a test: run by lockedElsewhere in a child
// process, it tries to take the lock file and says by its exit code
// whether it could (0) or not (3).
func TestHelperLockProcess(t *testing.T) {
	p := os.Getenv(lockHelperEnv)
	if p == "" {
		t.Skip("helper process only")
	}
	l, err := vfs.Default.Lock(p)
	if err != nil {
		os.Exit(3)
	}
	l.Close()
	os.Exit(0)
}

// lockedElsewhere reports whether another process is refused the lock file
// p: the lock belongs to the process, so only another one can tell.
func lockedElsewhere(t *testing.T, p string) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLockProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+p)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return true
	}
	t.Fatalf("lock helper: %v\n%s", err, out)
	return false
}

// TestOneFSPerStoreOnDisk: a second Open of an open store, however its path
// is spelled, is ErrStoreInUse and leaves the first FS, its dictionary and
// its lock alone; once the first FS is closed, any spelling opens it.
func TestOneFSPerStoreOnDisk(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	link := filepath.Join(root, "link")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, vfs.Default, dir, cfg)
	defer func() { f.Close() }()
	want := map[string][]byte{}
	put := func(name string) {
		data := bytes.Repeat([]byte(name), 100)
		idWrite(t, f, filepath.Join(dir, name), data)
		want[name] = data
	}
	put("000001.sst")
	log := f.dict.logPath()

	healthy, closer := vfs.WithDiskHealthChecks(vfs.Default, 0, nil, func(vfs.DiskSlowInfo) {})
	defer closer.Close()
	spellings := []struct {
		name string
		base vfs.FS
		dir  string
	}{
		{"symlink", vfs.Default, link},
		{"trailing slash", vfs.Default, dir + "/"},
		{"dot", vfs.Default, dir + "/./"},
		{"symlink with trailing slash", vfs.Default, link + "/"},
		{"relative", vfs.Default, "store"},
		{"disk health checks", healthy, dir},
		{"errorfs", errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(errorfs.Op) error { return nil })), link},
	}
	for i, s := range spellings {
		t.Run(s.name, func(t *testing.T) {
			if s.name == "relative" {
				t.Chdir(root)
			}
			g, err := Open(s.base, s.dir, cfg)
			if err == nil {
				g.Close()
			}
			if !errors.Is(err, ErrStoreInUse) {
				t.Errorf("second Open(%s) = %v, want ErrStoreInUse", s.dir, err)
			}
			var se *StoreOpenError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), s.dir) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name both %s and %s", err, s.dir, dir)
			}
			if !lockedElsewhere(t, filepath.Join(dir, lockFile)) {
				t.Error("after a refused second Open, another process can take the first FS's lock")
			}
			if _, err := os.Stat(log); err != nil {
				t.Fatalf("the first FS's dictionary log: %v", err)
			}
			if f.dict.logPath() != log {
				t.Fatalf("the first FS's log moved from %s to %s", log, f.dict.logPath())
			}
			put(fmt.Sprintf("%06d.sst", i+2))
			for name, data := range want {
				if got := readThrough(t, f, filepath.Join(dir, name)); !bytes.Equal(got, data) {
					t.Fatalf("%s reads back %d bytes, not what was written", name, len(got))
				}
			}
		})
	}

	mustClose(t, f)
	if lockedElsewhere(t, filepath.Join(dir, lockFile)) {
		t.Fatal("the lock is still held after Close")
	}
	// Closed, the store opens under another spelling; every file written
	// through the first FS has its entry.
	f = mustOpen(t, vfs.Default, link, cfg)
	if !f.dict.strict() {
		t.Fatal("the store is no longer strict")
	}
	for name, data := range want {
		if got := readThrough(t, f, filepath.Join(link, name)); !bytes.Equal(got, data) {
			t.Fatalf("after reopen, %s reads back %d bytes, not what was written", name, len(got))
		}
	}
	if !lockedElsewhere(t, filepath.Join(dir, lockFile)) {
		t.Fatal("the reopened FS does not hold the lock")
	}
}

// TestOneFSPerStoreOnMem: on a MemFS the store is its FS and its path: the
// same MemFS (wrapped or not) under any spelling is refused, another MemFS
// with the same path is another store. A failed Open gives the identity
// back.
func TestOneFSPerStoreOnMem(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodSM4CTR)
	f := mustOpen(t, mem, "/s", cfg)
	defer f.Close()
	idWrite(t, f, "/s/a", []byte("alpha"))
	for _, s := range []struct {
		base vfs.FS
		dir  string
	}{
		{mem, "/s"}, {mem, "/s/"}, {mem, "/s/./"}, {mem, "/t/../s"}, {mem, "s"},
		{errorfs.Wrap(mem, errorfs.InjectorFunc(func(errorfs.Op) error { return nil })), "/s"},
	} {
		g, err := Open(s.base, s.dir, cfg)
		if err == nil {
			g.Close()
		}
		if !errors.Is(err, ErrStoreInUse) {
			t.Fatalf("second Open(%s) on the same MemFS = %v, want ErrStoreInUse", s.dir, err)
		}
	}
	if got := readThrough(t, f, "/s/a"); string(got) != "alpha" {
		t.Fatalf("the first FS reads %q", got)
	}

	other := vfs.NewMem()
	bad := cfg
	bad.MasterKey.Type = "nonsense"
	if _, err := Open(other, "/s", bad); err == nil {
		t.Fatal("Open with a bad master key setting succeeded")
	}
	wrong := testConfig(t, keys.MethodSM4CTR)
	g := mustOpen(t, other, "/s", wrong) // another MemFS: another store
	mustClose(t, g)
	if _, err := Open(other, "/s", cfg); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Fatalf("Open with the wrong master key = %v", err)
	}
	g = mustOpen(t, other, "/s", wrong) // the failed Opens gave it back
	mustClose(t, g)
}
