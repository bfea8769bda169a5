package keys

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"testing"
)

// TestRegistryReadOnly: a registry opened read-only changes nothing on
// disk, even when a writable open would rotate its key (period elapsed,
// another method) or rewrap it (wrapped under the previous master key);
// it still verifies the master key, serves every key, and refuses writes
// with ErrReadOnly.
func TestRegistryReadOnly(t *testing.T) {
	ctx := context.Background()
	m := newMemFS()
	c := newClock()
	prev, cur := fileKey(t), fileKey(t)
	r := mustOpen(t, m, "/s", cfgWith(prev, MethodAES128CTR, c))
	if err := r.RotateDataKey(ctx); err != nil { // a key Retain could drop
		t.Fatal(err)
	}
	want, wantActive := keyBytes(r), r.Active().ID()
	r.Close()
	c.Advance(2 * DefaultRotationPeriod)
	// a leftover of a crash mid-write, which a writable open removes
	m.put("/s/"+RegistryFile+".tmp", []byte("partial"))
	before := m.snapshot()

	cfg := cfgWith(cur, MethodSM4CTR, c)
	cfg.Previous, cfg.ReadOnly = prev, true
	r = mustOpen(t, m, "/s", cfg)
	if got := keyBytes(r); !maps.Equal(got, want) || r.Active().ID() != wantActive {
		t.Fatalf("read-only registry: keys %d, active %x; want %d, %x", len(got), r.Active().ID(), len(want), wantActive)
	}
	if r.Master() != prev {
		t.Errorf("Master() = %v, want the previous key it is wrapped under", r.Master())
	}
	for name, op := range map[string]func() error{
		"RotateDataKey":   func() error { return r.RotateDataKey(ctx) },
		"RotateMasterKey": func() error { return r.RotateMasterKey(ctx, fileKey(t)) },
		"SetMethod":       func() error { return r.SetMethod(ctx, MethodAES256CTR) },
		"MaybeRotate":     func() error { _, err := r.MaybeRotate(ctx); return err },
		"Retain":          func() error { _, err := r.Retain(ctx, func(uint64) bool { return false }); return err },
	} {
		if err := op(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only registry: %v, want ErrReadOnly", name, err)
		}
	}
	if !maps.Equal(before, m.snapshot()) {
		t.Fatal("a read-only registry changed the filesystem")
	}

	// The master key is still verified.
	bad := cfgWith(fileKey(t), MethodAES128CTR, c)
	bad.ReadOnly = true
	if _, err := OpenRegistry(ctx, m, "/s", bad); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("read-only open under a wrong master key: %v", err)
	}
	// A missing registry is an error, not a new one.
	if _, err := OpenRegistry(ctx, m, "/empty", bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only open of a missing registry: %v", err)
	}
	if !maps.Equal(before, m.snapshot()) {
		t.Fatal("a failed read-only open changed the filesystem")
	}
}
