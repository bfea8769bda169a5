package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"github.com/tde-go/tde/ctr"
	"github.com/tde-go/tde/internal/secmem/secmemtest"
	"github.com/tde-go/tde/keys"
	"github.com/tde-go/tde/sm4"
)

// dumpsChildEnv names the case a child test process runs: making the
// process non-dumpable cannot be undone, so each case gets a fresh one.
const dumpsChildEnv = "TDE_TEST_DUMPS_CHILD"

func dumpable(t *testing.T) int {
	t.Helper()
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		t.Fatalf("prctl(PR_GET_DUMPABLE): %v", err)
	}
	return d
}

// TestKeysOutOfDumps runs each case in a child process and checks, with
// prctl(PR_GET_DUMPABLE) and /proc/self/smaps, that while encryption is on
// the process is non-dumpable (from before the master key is read) and the
// data keys and round keys lie in locked, MADV_DONTDUMP memory.
func TestKeysOutOfDumps(t *testing.T) {
	cases := map[string]func(t *testing.T){
		// An encrypting store: non-dumpable, keys in the arena.
		"aes": func(t *testing.T) { checkEncrypted(t, keys.MethodAES256CTR) },
		"sm4": func(t *testing.T) { checkEncrypted(t, keys.MethodSM4CTR) },
		// The process is non-dumpable before the master key file is read:
		// an Open that fails on the file's contents leaves it so.
		"before-key": func(t *testing.T) {
			cfg := testConfig(t, keys.MethodAES128CTR)
			if err := os.WriteFile(cfg.MasterKey.Path, []byte("not a key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(vfs.NewMem(), "/s", cfg); err == nil {
				t.Fatal("Open with a bad key file succeeded")
			}
			if d := dumpable(t); d != 0 {
				t.Errorf("after an Open that read a bad key file, PR_GET_DUMPABLE = %d, want 0", d)
			}
		},
		// A plaintext-wrapped registry holds data keys: protected, even
		// when the method is now plaintext.
		"plaintext-registry": func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKeysOutOfDumps$", "-test.count=1")
			cmd.Env = append(os.Environ(), dumpsChildEnv+"=make-plaintext-registry", "TDE_TEST_DUMPS_DIR="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("making the store: %v\n%s", err, out)
			}
			cfg := testConfig(t, keys.MethodPlaintext)
			cfg.MasterKey = MasterKeyConfig{Type: keys.KindPlaintext}
			f := mustOpen(t, vfs.Default, dir, cfg)
			defer mustClose(t, f)
			if d := dumpable(t); d != 0 {
				t.Errorf("with a plaintext registry holding keys, PR_GET_DUMPABLE = %d, want 0", d)
			}
		},
		"make-plaintext-registry": func(t *testing.T) {
			cfg := testConfig(t, keys.MethodAES128CTR)
			cfg.MasterKey = MasterKeyConfig{Type: keys.KindPlaintext}
			mustClose(t, mustOpen(t, vfs.Default, os.Getenv("TDE_TEST_DUMPS_DIR"), cfg))
		},
		// The opt-out keeps the process dumpable; the keys stay out of
		// dumps all the same.
		"keep-core-dumps": func(t *testing.T) {
			cfg := testConfig(t, keys.MethodAES128CTR)
			cfg.KeepCoreDumps = true
			f := mustOpen(t, vfs.NewMem(), "/s", cfg)
			defer mustClose(t, f)
			if d := dumpable(t); d != 1 {
				t.Errorf("with KeepCoreDumps, PR_GET_DUMPABLE = %d, want 1", d)
			}
			if err := secmemtest.Check("data key", unsafe.Pointer(&f.reg.Active().Key()[0])); err != nil {
				t.Error(err)
			}
		},
		// A store with no key yet is not protected, until a master key
		// is loaded to rotate to.
		"rotate-master": func(t *testing.T) {
			cfg := testConfig(t, keys.MethodPlaintext)
			cfg.MasterKey = MasterKeyConfig{Type: keys.KindPlaintext}
			f := mustOpen(t, vfs.NewMem(), "/s", cfg)
			defer mustClose(t, f)
			if d := dumpable(t); d != 1 {
				t.Fatalf("before the rotation, PR_GET_DUMPABLE = %d, want 1", d)
			}
			if err := f.RotateMasterKey(MasterKeyConfig{Type: keys.KindFile, Path: writeHexKey(t)}); err != nil {
				t.Fatal(err)
			}
			if d := dumpable(t); d != 0 {
				t.Errorf("after rotating to a master key file, PR_GET_DUMPABLE = %d, want 0", d)
			}
		},
		// A read-only open (tdectl status, dump) holds the keys too, and
		// is protected before it reads one.
		"read-only": func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKeysOutOfDumps$", "-test.count=1")
			cmd.Env = append(os.Environ(), dumpsChildEnv+"=make-encrypted", "TDE_TEST_DUMPS_DIR="+dir, "TDE_TEST_DUMPS_KEY="+filepath.Join(dir, "..", "key"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("making the store: %v\n%s", err, out)
			}
			cfg := testConfig(t, keys.MethodAES128CTR)
			cfg.MasterKey.Path = filepath.Join(dir, "..", "key")
			cfg.ReadOnly = true
			f := mustOpen(t, vfs.Default, dir, cfg)
			defer mustClose(t, f)
			if d := dumpable(t); d != 0 {
				t.Errorf("after a read-only open, PR_GET_DUMPABLE = %d, want 0", d)
			}
		},
		"make-encrypted": func(t *testing.T) {
			cfg := testConfig(t, keys.MethodAES128CTR)
			if err := os.Rename(cfg.MasterKey.Path, os.Getenv("TDE_TEST_DUMPS_KEY")); err != nil {
				t.Fatal(err)
			}
			cfg.MasterKey.Path = os.Getenv("TDE_TEST_DUMPS_KEY")
			cfg.KeepCoreDumps = true
			mustClose(t, mustOpen(t, vfs.Default, os.Getenv("TDE_TEST_DUMPS_DIR"), cfg))
		},
		// No keys at all: nothing to protect, nothing changed.
		"plaintext": func(t *testing.T) {
			cfg := testConfig(t, keys.MethodPlaintext)
			cfg.MasterKey = MasterKeyConfig{Type: keys.KindPlaintext}
			f := mustOpen(t, vfs.NewMem(), "/s", cfg)
			defer mustClose(t, f)
			if d := dumpable(t); d != 1 {
				t.Errorf("with no key anywhere, PR_GET_DUMPABLE = %d, want 1", d)
			}
		},
	}
	if name := os.Getenv(dumpsChildEnv); name != "" {
		if d := dumpable(t); d != 1 {
			t.Fatalf("child starts with PR_GET_DUMPABLE = %d, want 1", d)
		}
		cases[name](t)
		return
	}
	for name := range cases {
		if strings.HasPrefix(name, "make-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestKeysOutOfDumps$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), dumpsChildEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestKeysOutOfDumps") {
				t.Errorf("child %s: %v\n%s", name, err, out)
			}
		})
	}
}

// checkEncrypted opens a store with method m, writes a file, and checks
// the process and where the keys are.
func checkEncrypted(t *testing.T, m keys.Method) {
	f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, m))
	defer mustClose(t, f)
	if d := dumpable(t); d != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d, want 0", d)
	}
	w, err := f.Create(filepath.Join("/s", "000001.log"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dk := f.reg.Active()
	if err := secmemtest.Check("data key", unsafe.Pointer(&dk.Key()[0])); err != nil {
		t.Error(err)
	}
	kc, err := f.keys.acquire(dk.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer f.keys.release(kc)
	// The first word of ctr.Cipher and sm4.Cipher is the pointer to the
	// round keys (see their definitions).
	var rk unsafe.Pointer
	switch c := kc.c.(type) {
	case *ctr.Cipher:
		rk = *(*unsafe.Pointer)(unsafe.Pointer(c))
	case *sm4.Cipher:
		rk = *(*unsafe.Pointer)(unsafe.Pointer(c))
	default:
		t.Fatalf("cipher of type %T", kc.c)
	}
	if err := secmemtest.Check("round keys", rk); err != nil {
		t.Error(err)
	}
}
