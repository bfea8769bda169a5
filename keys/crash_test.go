package keys

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// The mutating operations of one registry write, in order.
var writeOps = []string{"create", "write", "sync", "close", "rename", "syncdir"}

// TestCrashDuringWrite: the machine dies at each step of a registry write
// (that step and everything after it fail, then whatever was not durable is
// lost). The registry reopens, holding the old keys if the rename was not
// yet durable and the new ones if it was; never a torn or empty file.
func TestCrashDuringWrite(t *testing.T) {
	ctx := context.Background()
	for step, op := range writeOps {
		t.Run(op, func(t *testing.T) {
			fsys, c, master := newMemFS(), newClock(), fileKey(t)
			cfg := cfgWith(master, MethodAES256CTR, c)
			r := mustOpen(t, fsys, "/db", cfg)
			old := keyBytes(r)

			fsys.failOn(step+1, true)
			if err := r.RotateDataKey(ctx); !errors.Is(err, errInjected) {
				t.Fatalf("RotateDataKey with %s failing: %v", op, err)
			}
			if !maps.Equal(keyBytes(r), old) {
				t.Error("a failed write changed the open registry")
			}
			fsys.crash()

			r2 := mustOpen(t, fsys, "/db", cfg)
			// Every op before SyncDir leaves the old registry; SyncDir
			// itself failing means the rename is not durable either.
			if !maps.Equal(keyBytes(r2), old) {
				t.Errorf("after a crash at %s: keys %v, want the old registry", op, r2.Keys())
			}
		})
	}
}

// TestCrashAfterWrite: a write that returned nil survives a crash. This
// fails if the temporary file is not synced before the rename (the renamed
// file would be empty) or the directory after it (the rename would be
// lost).
func TestCrashAfterWrite(t *testing.T) {
	ctx := context.Background()
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	cfg := cfgWith(master, MethodAES256CTR, c)
	r := mustOpen(t, fsys, "/db", cfg)
	if err := r.RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	want := keyBytes(r)
	fsys.crash()
	r2 := mustOpen(t, fsys, "/db", cfg)
	if !maps.Equal(keyBytes(r2), want) {
		t.Errorf("after a crash: keys %v, want those of the last write", r2.Keys())
	}
}

// TestCrashAtCreate: a crash while the first registry is being written
// leaves no registry (or none that opens wrongly): the next open creates
// one.
func TestCrashAtCreate(t *testing.T) {
	for step, op := range writeOps {
		fsys, c, master := newMemFS(), newClock(), fileKey(t)
		cfg := cfgWith(master, MethodAES256CTR, c)
		fsys.failOn(step+1, true)
		if _, err := OpenRegistry(context.Background(), fsys, "/db", cfg); !errors.Is(err, errInjected) {
			t.Fatalf("create with %s failing: %v", op, err)
		}
		fsys.crash()
		r := mustOpen(t, fsys, "/db", cfg)
		if len(r.Keys()) != 1 {
			t.Errorf("crash at %s: keys %v", op, r.Keys())
		}
	}
}

// TestFailedWriteOnDisk: on the real filesystem, a write whose rename (or
// any earlier step) fails leaves the old registry byte for byte, removes
// the temporary file, and the registry keeps working.
func TestFailedWriteOnDisk(t *testing.T) {
	ctx := context.Background()
	for _, op := range writeOps[:len(writeOps)-1] {
		if op == "close" {
			continue // faultFS passes Close through
		}
		t.Run(op, func(t *testing.T) {
			dir, c, master := t.TempDir(), newClock(), fileKey(t)
			failing := ""
			fsys := faultFS{FS: OSFS{}, fail: func(o, name string) error {
				if o == failing {
					return errInjected
				}
				return nil
			}}
			r := mustOpen(t, fsys, dir, cfgWith(master, MethodAES128CTR, c))
			old := keyBytes(r)
			before := dirSnapshot(t, dir)

			failing = op
			if err := r.RotateDataKey(ctx); !errors.Is(err, errInjected) {
				t.Fatalf("RotateDataKey with %s failing: %v", op, err)
			}
			sameSnapshot(t, "failed write", before, dirSnapshot(t, dir))
			if _, err := os.Stat(filepath.Join(dir, RegistryFile+".tmp")); !os.IsNotExist(err) {
				t.Errorf("temporary file left: %v", err)
			}
			if !maps.Equal(keyBytes(r), old) {
				t.Error("the open registry changed")
			}
			failing = ""
			if err := r.RotateDataKey(ctx); err != nil {
				t.Fatalf("RotateDataKey after the fault cleared: %v", err)
			}
			want := keyBytes(r)
			r.Close()
			r2 := mustOpen(t, OSFS{}, dir, cfgWith(master, MethodAES128CTR, c))
			if !maps.Equal(keyBytes(r2), want) {
				t.Error("reopened registry differs")
			}
		})
	}
}

// TestStaleTempFile: a temporary file left by a crash is ignored and
// removed by the next successful open.
func TestStaleTempFile(t *testing.T) {
	dir, c, master := t.TempDir(), newClock(), fileKey(t)
	r := mustOpen(t, OSFS{}, dir, cfgWith(master, MethodAES128CTR, c))
	want := keyBytes(r)
	r.Close()
	tmp := filepath.Join(dir, RegistryFile+".tmp")
	os.WriteFile(tmp, []byte("TDEKEYS\x00half a regis"), 0o600)
	r = mustOpen(t, OSFS{}, dir, cfgWith(master, MethodAES128CTR, c))
	if !maps.Equal(keyBytes(r), want) {
		t.Error("keys differ")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("stale temporary file not removed: %v", err)
	}
}

// TestFailedRewriteAtOpen: an open that must rewrite the registry (new
// method, age, master key change) and cannot fails, and leaves the
// directory as it was.
func TestFailedRewriteAtOpen(t *testing.T) {
	for step, op := range writeOps[:len(writeOps)-1] { // after the rename, the new file is in place
		fsys, c := newMemFS(), newClock()
		oldKey, newKey := fileKey(t), fileKey(t)
		mustOpen(t, fsys, "/db", cfgWith(oldKey, MethodAES128CTR, c)).Close()
		for name, cfg := range map[string]RegistryConfig{
			"method":     cfgWith(oldKey, MethodAES256CTR, c),
			"master key": {Master: newKey, Previous: oldKey, Method: MethodAES128CTR, Now: c.Now, Logger: quietLogger()},
		} {
			before := fsys.snapshot()
			fsys.failOn(step+1, false)
			_, err := OpenRegistry(context.Background(), fsys, "/db", cfg)
			fsys.disarm()
			if !errors.Is(err, errInjected) {
				t.Errorf("%s change, %s failing: %v", name, op, err)
			}
			sameSnapshot(t, name+" change, "+op+" failing", before, fsys.snapshot())
		}
	}
}
