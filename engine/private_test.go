//go:build unix

package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/privfile"
	"github.com/tde-go/tde/keys"
)

// trivialWrapFS is the most trivial wrapper of a vfs.FS, as an application might
// write one: it only says what it wraps.
type trivialWrapFS struct{ vfs.FS }

func (w trivialWrapFS) Unwrap() vfs.FS { return w.FS }

// privateBases are the disk as Pebble users give it to the engine.
func privateBases(t *testing.T) map[string]vfs.FS {
	health, closer := vfs.WithDiskHealthChecks(vfs.Default, time.Minute, nil, func(vfs.DiskSlowInfo) {})
	t.Cleanup(func() { closer.Close() })
	return map[string]vfs.FS{
		"Default":              vfs.Default,
		"WithDiskHealthChecks": health,
		"OnDiskFull":           vfs.OnDiskFull(vfs.Default, func() {}),
		"wrapper":              trivialWrapFS{vfs.Default},
	}
}

// withUmask sets the process umask for the test and restores it after.
// Not parallel: the umask is the process's.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// metadataModes returns the mode of every file of tde's own in dir
// (registry, its temporary twin, dictionary logs and markers).
func metadataModes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fs.FileMode{}
	for _, e := range ents {
		n := e.Name()
		if n == lockFile || !reserved(n) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = fi.Mode()
	}
	return out
}

func checkPrivate(t *testing.T, dir, when string) {
	t.Helper()
	modes := metadataModes(t, dir)
	var sawKeys, sawDict, sawMarker bool
	for n, m := range modes {
		sawKeys = sawKeys || n == keys.RegistryFile
		sawDict = sawDict || strings.HasPrefix(n, dictLogPrefix)
		sawMarker = sawMarker || strings.HasPrefix(n, "marker."+dictMarkerName+".")
		if m != privfile.Mode {
			t.Errorf("%s: %s has mode %v, want %v", when, n, m, privfile.Mode)
		}
	}
	if !sawKeys || !sawDict || !sawMarker {
		t.Errorf("%s: metadata files %v, want the registry, a dictionary log and a marker", when, modes)
	}
}

// TestMetadataPrivateWhateverTheBase: on the disk, however wrapped, the
// registry, the dictionary's logs and its markers are mode 0600 after Open,
// a dictionary rewrite, a data key rotation and a master key rotation,
// whatever the umask.
func TestMetadataPrivateWhateverTheBase(t *testing.T) {
	for name, base := range privateBases(t) {
		t.Run(name, func(t *testing.T) {
			for _, mask := range []int{0o022, 0o000} {
				withUmask(t, mask)
				dir := filepath.Join(t.TempDir(), "store")
				cfg := testConfig(t, keys.MethodAES128CTR)
				cfg.DictionaryRewriteThreshold = 1
				f := mustOpen(t, base, dir, cfg)
				checkPrivate(t, dir, fmt.Sprintf("umask %03o, after Open", mask))

				logBefore := f.dict.logPath()
				// Outside the store directory's epoch, each create over the name appends.
				if err := f.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				for range 4 {
					w, err := f.Create(filepath.Join(dir, "sub", "000001.sst"), vfs.WriteCategoryUnspecified)
					if err != nil {
						t.Fatal(err)
					}
					w.Close()
				}
				if f.dict.logPath() == logBefore {
					t.Fatalf("no dictionary rewrite happened (log still %s)", logBefore)
				}
				checkPrivate(t, dir, "after a dictionary rewrite")

				if err := f.RotateDataKey(); err != nil {
					t.Fatal(err)
				}
				checkPrivate(t, dir, "after RotateDataKey")

				if err := f.RotateMasterKey(MasterKeyConfig{Type: "file", Path: writeHexKey(t)}); err != nil {
					t.Fatal(err)
				}
				checkPrivate(t, dir, "after RotateMasterKey")
				mustClose(t, f)
			}
		})
	}
}

// TestMetadataTempFilesNoFollow: a symlink planted where the registry's
// temporary file, the next dictionary log or the next marker is to be
// created is not written through: the write fails naming the file (or, for
// a background dictionary rewrite, the old log stays current), and the
// file the symlink points to is unchanged.
func TestMetadataTempFilesNoFollow(t *testing.T) {
	for name, base := range privateBases(t) {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "store")
			victim := filepath.Join(root, "victim")
			const precious = "precious bytes, not tde's"
			if err := os.WriteFile(victim, []byte(precious), 0o644); err != nil {
				t.Fatal(err)
			}
			checkVictim := func(when string) {
				t.Helper()
				b, err := os.ReadFile(victim)
				fi, serr := os.Stat(victim)
				if err != nil || serr != nil || string(b) != precious || fi.Mode().Perm() != 0o644 {
					t.Fatalf("%s: victim reads %q (%v), mode %v, want it unchanged", when, b, err, fi.Mode())
				}
			}
			cfg := testConfig(t, keys.MethodAES128CTR)
			cfg.DictionaryRewriteThreshold = 1
			f := mustOpen(t, base, dir, cfg)

			// The registry's temporary file.
			tmp := filepath.Join(dir, registryTempFile)
			if err := os.Symlink(victim, tmp); err != nil {
				t.Fatal(err)
			}
			err := f.RotateDataKey()
			if !errors.Is(err, privfile.ErrInTheWay) || !strings.Contains(err.Error(), tmp) {
				t.Fatalf("RotateDataKey with a symlink at %s = %v, want ErrInTheWay naming it", tmp, err)
			}
			checkVictim("after RotateDataKey")
			if fi, err := os.Lstat(tmp); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("the planted symlink is gone or replaced: %v, %v", fi, err)
			}
			os.Remove(tmp)

			// The next dictionary log and the next marker.
			cur := f.dict.logPath()
			var iter uint64
			if _, err := fmt.Sscanf(filepath.Base(cur), dictLogPrefix+"%d", &iter); err != nil {
				t.Fatal(err)
			}
			nextLog := fmt.Sprintf("%s%06d", dictLogPrefix, iter+1)
			if err := f.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{nextLog, fmt.Sprintf("marker.%s.%06d.%s", dictMarkerName, iter+1, nextLog)} {
				if err := os.Symlink(victim, filepath.Join(dir, n)); err != nil {
					t.Fatal(err)
				}
			}
			for range 4 {
				w, err := f.Create(filepath.Join(dir, "sub", "000001.sst"), vfs.WriteCategoryUnspecified)
				if err != nil {
					t.Fatal(err)
				}
				w.Close()
			}
			checkVictim("after dictionary appends past the rewrite threshold")
			if got := f.dict.logPath(); got != cur {
				t.Fatalf("dictionary log is %s, want %s still (its successor's name is taken)", got, cur)
			}
			mustClose(t, f)
			checkVictim("after Close")
		})
	}
}
