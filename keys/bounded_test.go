package keys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRegistrySparseFileBounded: a registry file of 64 GiB (sparse: no
// disk used) fails to open with ErrCorruptRegistry naming it, after
// reading at most maxRegistrySize bytes, not all of it.
func TestRegistrySparseFileBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, RegistryFile)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		f.Close()
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = OpenRegistry(context.Background(), OSFS{}, dir, cfgWith(fileKey(t), MethodAES128CTR, newClock()))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorruptRegistry) || !strings.Contains(err.Error(), path) || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("OpenRegistry of a 64 GiB registry = %v, want ErrCorruptRegistry naming %s once", err, path)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*uint64(maxRegistrySize) {
		t.Errorf("opening it allocated %d bytes, want at most %d (the race detector's share included)", alloc, 8*maxRegistrySize)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 64<<30 {
		t.Errorf("registry after the failed open: %v, %v", fi, err)
	}
}

// TestRegistryNeverWritesWhatItCannotRead: a registry that would outgrow
// maxRegistrySize is not written, and the file stays as it was.
func TestRegistryNeverWritesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	r := mustOpen(t, OSFS{}, dir, cfgWith(fileKey(t), MethodAES128CTR, newClock()))
	path := filepath.Join(dir, RegistryFile)
	old := maxRegistrySize
	t.Cleanup(func() { maxRegistrySize = old })
	data, _ := os.ReadFile(path)
	maxRegistrySize = len(data) + 60 // room for one more key, not two
	if err := r.RotateDataKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	err := r.RotateDataKey(context.Background())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("RotateDataKey past the bound = %v, want an error naming %s", err, path)
	}
	if now, _ := os.ReadFile(path); string(now) != string(data) {
		t.Error("the registry changed though the write was refused")
	}
	r2, err := OpenRegistry(context.Background(), OSFS{}, dir, cfgWith(r.Master(), MethodAES128CTR, newClock()))
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	r2.Close()
}
