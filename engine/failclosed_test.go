package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// dirState describes every file and directory under dir on base: name,
// size, mode and bytes.
func dirState(t *testing.T, base vfs.FS, dir string) string {
	t.Helper()
	var lines []string
	walkRaw(t, base, dir, func(p string, fi vfs.FileInfo) {
		lines = append(lines, fmt.Sprintf("%s/ %v", p, fi.Mode()))
	}, func(p string, fi vfs.FileInfo, b []byte) {
		lines = append(lines, fmt.Sprintf("%s %d %v %x", p, fi.Size(), fi.Mode(), b))
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// tdeFiles lists dir's names that start with prefix.
func tdeFiles(t *testing.T, base vfs.FS, dir, prefix string) []string {
	t.Helper()
	names, err := base.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func removeAll(t *testing.T, base vfs.FS, dir string, names []string) {
	t.Helper()
	for _, n := range names {
		if err := base.Remove(base.PathJoin(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
}

const dictMarkerPrefix = "marker." + dictMarkerName + "."

// TestLostMetadataFailsClosed: an encrypted store whose dictionary is lost
// or unreadable, or whose registry is lost, fails to open with a typed
// error naming what was found, and every byte of the directory stays as it
// was; on a MemFS and on disk.
func TestLostMetadataFailsClosed(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, base vfs.FS, dir string)
		want   error
		names  []string // prefixes the error must name
	}{
		{"marker gone", func(t *testing.T, base vfs.FS, dir string) {
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictMarkerPrefix))
		}, ErrLostMetadata, []string{keys.RegistryFile, dictLogPrefix}},
		{"marker and registry gone", func(t *testing.T, base vfs.FS, dir string) {
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictMarkerPrefix))
			removeAll(t, base, dir, []string{keys.RegistryFile})
		}, ErrLostMetadata, []string{dictLogPrefix}},
		{"marker and logs gone", func(t *testing.T, base vfs.FS, dir string) {
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictMarkerPrefix))
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictLogPrefix))
		}, ErrLostMetadata, []string{keys.RegistryFile}},
		{"every tde file gone", func(t *testing.T, base vfs.FS, dir string) {
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictMarkerPrefix))
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictLogPrefix))
			removeAll(t, base, dir, []string{keys.RegistryFile, lockFile})
		}, ErrLostMetadata, []string{"OPTIONS-"}},
		{"marker names no log", func(t *testing.T, base vfs.FS, dir string) {
			m := tdeFiles(t, base, dir, dictMarkerPrefix)
			if err := base.Rename(base.PathJoin(dir, m[0]), base.PathJoin(dir, dictMarkerPrefix+"000099.")); err != nil {
				t.Fatal(err)
			}
		}, ErrLostMetadata, []string{dictMarkerPrefix + "000099."}},
		{"marker names a missing log", func(t *testing.T, base vfs.FS, dir string) {
			removeAll(t, base, dir, tdeFiles(t, base, dir, dictLogPrefix))
		}, ErrCorruptDictionary, []string{dictLogPrefix}},
		{"registry gone", func(t *testing.T, base vfs.FS, dir string) {
			removeAll(t, base, dir, []string{keys.RegistryFile})
		}, ErrLostMetadata, []string{keys.RegistryFile, dictLogPrefix}},
	}
	bases := []struct {
		name string
		make func(t *testing.T) (vfs.FS, string)
	}{
		{"mem", func(*testing.T) (vfs.FS, string) { return vfs.NewMem(), "/s" }},
		{"disk", func(t *testing.T) (vfs.FS, string) { return vfs.Default, filepath.Join(t.TempDir(), "s") }},
	}
	for _, b := range bases {
		for _, c := range cases {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				base, dir := b.make(t)
				cfg := testConfig(t, keys.MethodAES256CTR)
				f := mustOpen(t, base, dir, cfg)
				fillPebble(t, f, dir, 0, 100)
				mustClose(t, f)
				c.damage(t, base, dir)
				before := dirState(t, base, dir)

				// A read-only open (tdectl status, dump) fails closed as well.
				for _, ro := range []bool{false, true} {
					cfg.ReadOnly = ro
					f, err := Open(base, dir, cfg)
					if err == nil {
						f.Close()
						t.Fatalf("Open (read-only %v) of a store that lost its metadata succeeded", ro)
					}
					if !errors.Is(err, c.want) {
						t.Fatalf("Open (read-only %v) = %v, want %v", ro, err, c.want)
					}
					for _, n := range c.names {
						if !strings.Contains(err.Error(), n) {
							t.Errorf("error %q does not name %s", err, n)
						}
					}
					if after := dirState(t, base, dir); after != before {
						t.Fatalf("a failed Open (read-only %v) changed the store directory:\nbefore:\n%s\nafter:\n%s", ro, before, after)
					}
				}
			})
		}
	}
}

// TestUnreadableDictionaryFailsClosed: a log the marker names that cannot
// be opened is ErrLostMetadata with the underlying error, nothing changed.
func TestUnreadableDictionaryFailsClosed(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodSM4CTR)
	f := mustOpen(t, mem, "/s", cfg)
	fillPebble(t, f, "/s", 0, 50)
	log := f.dict.logPath()
	mustClose(t, f)
	before := dirState(t, mem, "/s")
	denied := errors.New("injected: permission denied")
	efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpOpen && op.Path == log {
			return denied
		}
		return nil
	}))
	_, err := Open(efs, "/s", cfg)
	if !errors.Is(err, ErrLostMetadata) || !errors.Is(err, denied) || !strings.Contains(err.Error(), filepath.Base(log)) {
		t.Fatalf("Open with an unreadable dictionary = %v", err)
	}
	if dirState(t, mem, "/s") != before {
		t.Fatal("a failed Open changed the store directory")
	}
}

// TestPlaintextStoreStillTurnsEncryptionOn: Pebble files and no tde file
// at all are a plaintext store, which opens non-strict and reads as before.
func TestPlaintextStoreStillTurnsEncryptionOn(t *testing.T) {
	for _, c := range []struct {
		base vfs.FS
		dir  string
	}{{vfs.NewMem(), "/s"}, {vfs.Default, filepath.Join(t.TempDir(), "s")}} {
		fillPebble(t, c.base, c.dir, 0, 100)
		f := mustOpen(t, c.base, c.dir, testConfig(t, keys.MethodAES128CTR))
		if f.dict.strict() {
			t.Fatal("a plaintext store opened strict")
		}
		checkPebble(t, f, c.dir, 100)
		mustClose(t, f)
	}
}

// TestFirstOpenInterruptedStillOpens: a first Open that stops after the new
// dictionary's log is written but before its marker, or after the
// dictionary but before the registry, leaves what the next Open takes for
// a store that never recorded a file, not for a lost dictionary.
func TestFirstOpenInterruptedStillOpens(t *testing.T) {
	for _, stop := range []string{dictMarkerPrefix, keys.RegistryFile} {
		t.Run(stop, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			if err := errors.Join(mem.MkdirAll("/s", 0o755), syncDir(mem, "/")); err != nil {
				t.Fatal(err)
			}
			injected := errors.New("injected")
			efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if op.Kind == errorfs.OpCreate && strings.HasPrefix(filepath.Base(op.Path), stop) {
					return injected
				}
				return nil
			}))
			cfg := testConfig(t, keys.MethodAES128CTR)
			if _, err := Open(efs, "/s", cfg); !errors.Is(err, injected) {
				t.Fatalf("first Open = %v, want the injected error", err)
			}
			crashed := mem.CrashClone(vfs.CrashCloneCfg{})
			f := mustOpen(t, crashed, "/s", cfg)
			if !f.dict.strict() {
				t.Error("a store tde created from empty is not strict")
			}
			fillPebble(t, f, "/s", 0, 50)
			checkPebble(t, f, "/s", 50)
			mustClose(t, f)
		})
	}
}

// TestDictionaryNeverReusesLogName: a rewrite whose new log's name is taken
// fails, leaving that file and the current log alone.
func TestDictionaryNeverReusesLogName(t *testing.T) {
	mem := vfs.NewMem()
	f := mustOpen(t, mem, "/s", testConfig(t, keys.MethodAES128CTR))
	defer f.Close()
	idWrite(t, f, "/s/a", []byte("alpha"))
	cur := f.dict.logPath()
	next := mem.PathJoin("/s", fmt.Sprintf("%s%06d", dictLogPrefix, f.dict.marker.NextIter()))
	precious := []byte("a log that must not be truncated")
	rewriteFile(t, mem, next, bytes.Clone(precious)) // under -race Pebble scribbles written buffers

	f.dict.wmu.Lock()
	err := f.dict.rewrite()
	f.dict.wmu.Unlock()
	if !errors.Is(err, os.ErrExist) || !strings.Contains(err.Error(), next) {
		t.Fatalf("rewrite onto an existing log name = %v", err)
	}
	if got := rawFiles(t, mem, "/s")[next]; !bytes.Equal(got, precious) {
		t.Fatalf("%s was overwritten: %q, want %q", next, got, precious)
	}
	if f.dict.logPath() != cur {
		t.Fatalf("the current log moved to %s", f.dict.logPath())
	}
	idWrite(t, f, "/s/b", []byte("beta")) // the dictionary still takes appends
	if got := readThrough(t, f, "/s/b"); string(got) != "beta" {
		t.Fatalf("read %q", got)
	}
}

// TestStaleLogUnderNextNameOpens: a rewrite that crashed leaves a log under
// the name the next rewrite takes; an Open that has to rewrite (a torn
// tail) removes it first rather than refuse or truncate it in place.
func TestStaleLogUnderNextNameOpens(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, mem, "/s", cfg)
	fillPebble(t, f, "/s", 0, 50)
	cur := f.dict.logPath()
	next := mem.PathJoin("/s", fmt.Sprintf("%s%06d", dictLogPrefix, f.dict.marker.NextIter()))
	mustClose(t, f)
	rewriteFile(t, mem, next, []byte("half a log"))
	torn := append(rawFiles(t, mem, "/s")[cur], 0x55, 0x12, 0x00, 0x00, 0x01)
	rewriteFile(t, mem, cur, torn)

	f = mustOpen(t, mem, "/s", cfg)
	defer f.Close()
	if f.dict.logPath() == cur {
		t.Fatal("the torn log was not rewritten")
	}
	checkPebble(t, f, "/s", 50)
}
