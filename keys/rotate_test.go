package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"testing"
	"time"
)

func TestRotationPeriod(t *testing.T) {
	ctx := context.Background()
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	cfg := cfgWith(master, MethodAES256CTR, c)
	r := mustOpen(t, fsys, "/db", cfg)
	first := r.Active().ID()

	c.Advance(DefaultRotationPeriod - time.Nanosecond)
	if rotated, err := r.MaybeRotate(ctx); rotated || err != nil {
		t.Fatalf("just under the period: rotated %v, %v", rotated, err)
	}
	c.Advance(time.Nanosecond)
	if rotated, err := r.MaybeRotate(ctx); !rotated || err != nil {
		t.Fatalf("at the period: rotated %v, %v", rotated, err)
	}
	second := r.Active()
	if second.ID() == first || !second.Created().Equal(c.Now()) || second.Method() != MethodAES256CTR {
		t.Fatalf("after rotation: %v (first %s)", second, FormatID(first))
	}
	if _, err := r.Key(first); err != nil {
		t.Errorf("the old key is gone after rotation: %v", err)
	}
	if rotated, _ := r.MaybeRotate(ctx); rotated {
		t.Error("rotated twice at the same instant")
	}
	r.Close()

	// At open: within the period the active key stays; past it, a new one.
	c.Advance(time.Hour)
	r = mustOpen(t, fsys, "/db", cfg)
	if r.Active().ID() != second.ID() || len(r.Keys()) != 2 {
		t.Fatalf("reopen within the period: %v, %v", r.Active(), r.Keys())
	}
	r.Close()
	c.Advance(DefaultRotationPeriod)
	r = mustOpen(t, fsys, "/db", cfg)
	if id := r.Active().ID(); id == first || id == second.ID() || len(r.Keys()) != 3 {
		t.Fatalf("reopen past the period: %v, %v", r.Active(), r.Keys())
	}
	r.Close()

	// A custom period.
	cfg.RotationPeriod = time.Hour
	r = mustOpen(t, fsys, "/db", cfg)
	c.Advance(59 * time.Minute)
	if rotated, _ := r.MaybeRotate(ctx); rotated {
		t.Error("rotated before a 1h period")
	}
	c.Advance(time.Minute)
	if rotated, err := r.MaybeRotate(ctx); !rotated || err != nil {
		t.Errorf("1h period: rotated %v, %v", rotated, err)
	}
}

// TestMethodChange: each change makes a new key of the new method's length;
// going back to a method never reuses its old key (tikv#7560).
func TestMethodChange(t *testing.T) {
	ctx := context.Background()
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	r := mustOpen(t, fsys, "/db", cfgWith(master, MethodAES128CTR, c))
	seen := map[uint64]Method{r.Active().ID(): MethodAES128CTR}
	// aes128 → sm4 and sm4 → aes128 keep the length: still a new key.
	for _, m := range []Method{MethodSM4CTR, MethodAES128CTR, MethodAES256CTR, MethodAES192CTR, MethodPlaintext, MethodAES256CTR} {
		if err := r.SetMethod(ctx, m); err != nil {
			t.Fatalf("SetMethod(%v): %v", m, err)
		}
		a := r.Active()
		if a.Method() != m || len(a.Key()) != m.KeySize() || r.Method() != m {
			t.Fatalf("SetMethod(%v): active %v with %d bytes", m, a, len(a.Key()))
		}
		if m == MethodPlaintext {
			if a.ID() != 0 {
				t.Fatalf("plaintext: active %v", a)
			}
			continue
		}
		if _, dup := seen[a.ID()]; dup {
			t.Fatalf("SetMethod(%v) reused key %s", m, FormatID(a.ID()))
		}
		seen[a.ID()] = m
	}
	// Every key keeps its own method and length.
	for id, m := range seen {
		k, err := r.Key(id)
		if err != nil || k.Method() != m || len(k.Key()) != m.KeySize() {
			t.Errorf("key %s: %v, %v; want %v", FormatID(id), k, err, m)
		}
	}
	active := r.Active().ID()
	if err := r.SetMethod(ctx, MethodAES256CTR); err != nil || r.Active().ID() != active {
		t.Errorf("setting the same method rotated: %v", err)
	}
	if err := r.SetMethod(ctx, 0); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("SetMethod(0): %v", err)
	}
	r.Close()

	// A method change in the configuration rotates at open.
	r = mustOpen(t, fsys, "/db", cfgWith(master, MethodSM4CTR, c))
	if a := r.Active(); a.Method() != MethodSM4CTR || len(a.Key()) != 16 || seen[a.ID()] != 0 {
		t.Errorf("reopen with sm4-ctr: %v", a)
	}
	r.Close()
	r = mustOpen(t, fsys, "/db", cfgWith(master, MethodPlaintext, c))
	if r.Active().ID() != 0 || len(r.Keys()) != len(seen)+1 {
		t.Errorf("reopen with plaintext: %v, %d keys", r.Active(), len(r.Keys()))
	}
}

// TestMasterKeyChangeAtOpen: opening with a new key and the previous one
// rewraps the registry under the new key and makes a new data key; the old
// key alone no longer opens it.
func TestMasterKeyChangeAtOpen(t *testing.T) {
	fsys, c := newMemFS(), newClock()
	oldKey, newKey := fileKey(t), fileKey(t)
	r := mustOpen(t, fsys, "/db", cfgWith(oldKey, MethodAES192CTR, c))
	before, first := keyBytes(r), r.Active().ID()
	r.Close()

	cfg := cfgWith(newKey, MethodAES192CTR, c)
	cfg.Previous = oldKey
	r = mustOpen(t, fsys, "/db", cfg)
	if r.Active().ID() == first || r.Master() != newKey {
		t.Errorf("after master change: active %v, master %v", r.Active(), r.Master())
	}
	after := keyBytes(r)
	for id, b := range before {
		if after[id] != b {
			t.Errorf("key %s lost or changed in the rewrap", FormatID(id))
		}
	}
	r.Close()

	if _, err := OpenRegistry(context.Background(), fsys, "/db", cfgWith(oldKey, MethodAES192CTR, c)); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("old key after rewrap: %v, want ErrWrongMasterKey", err)
	}
	r = mustOpen(t, fsys, "/db", cfgWith(newKey, MethodAES192CTR, c))
	if !maps.Equal(keyBytes(r), after) {
		t.Error("the new key alone opens different keys")
	}
	r.Close()
	// Keeping the previous key configured once the rewrap is done is harmless.
	r = mustOpen(t, fsys, "/db", cfg)
	if len(r.Keys()) != len(after) {
		t.Errorf("reopen with a stale previous key rotated: %v", r.Keys())
	}
	r.Close()

	// Turning encryption of the registry off and on again goes the same way.
	cfg = cfgWith(Plaintext(), MethodAES192CTR, c)
	cfg.Previous = newKey
	mustOpen(t, fsys, "/db", cfg).Close()
	if h, _, _, _ := decodeFile([]byte(fsys.snapshot()["/db/"+RegistryFile])); h.kind != KindPlaintext {
		t.Errorf("registry kind %q after switching to plaintext", h.kind)
	}
	cfg = cfgWith(newKey, MethodAES192CTR, c)
	if _, err := OpenRegistry(context.Background(), fsys, "/db", cfg); !errors.Is(err, ErrMissingPreviousKey) {
		t.Errorf("plaintext registry, file key, no previous: %v", err)
	}
	cfg.Previous = Plaintext()
	mustOpen(t, fsys, "/db", cfg)
}

// TestRotateMasterKeyOnline: on an open registry, without reopening.
func TestRotateMasterKeyOnline(t *testing.T) {
	ctx := context.Background()
	fsys, c := newMemFS(), newClock()
	oldKey, newKey := fileKey(t), fileKey(t)
	r := mustOpen(t, fsys, "/db", cfgWith(oldKey, MethodAES256CTR, c))
	first := r.Active().ID()
	if err := r.RotateMasterKey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	if r.Active().ID() == first || r.Master() != newKey {
		t.Errorf("after RotateMasterKey: active %v, master %v", r.Active(), r.Master())
	}
	// Still working: the next write goes under the new key too.
	c.Advance(DefaultRotationPeriod)
	if rotated, err := r.MaybeRotate(ctx); !rotated || err != nil {
		t.Fatalf("MaybeRotate after RotateMasterKey: %v, %v", rotated, err)
	}
	want := keyBytes(r)
	if _, err := OpenRegistry(ctx, fsys, "/db", cfgWith(oldKey, MethodAES256CTR, c)); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("old key after online rotation: %v", err)
	}
	r2 := mustOpen(t, newMemFSFrom(fsys), "/db", cfgWith(newKey, MethodAES256CTR, c))
	if !maps.Equal(keyBytes(r2), want) {
		t.Error("registry under the new key differs from the open one")
	}
	// A failed rotation changes nothing.
	snap := fsys.snapshot()
	fsys.failOn(5, false) // the rename
	if err := r.RotateMasterKey(ctx, fileKey(t)); !errors.Is(err, errInjected) {
		t.Fatalf("RotateMasterKey with a failing rename: %v", err)
	}
	fsys.disarm()
	sameSnapshot(t, "failed RotateMasterKey", snap, fsys.snapshot())
	if r.Master() != newKey || !maps.Equal(keyBytes(r), want) {
		t.Error("failed RotateMasterKey changed the open registry")
	}
	if err := r.RotateMasterKey(ctx, nil); err == nil {
		t.Error("RotateMasterKey(nil) accepted")
	}
}

// newMemFSFrom copies the current namespace of m into a new memFS.
func newMemFSFrom(m *memFS) *memFS {
	n := newMemFS()
	for name, data := range m.snapshot() {
		n.put(name, []byte(data))
	}
	return n
}

func TestRetain(t *testing.T) {
	ctx := context.Background()
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	r := mustOpen(t, fsys, "/db", cfgWith(master, MethodAES128CTR, c))
	var ids []uint64
	for range 4 {
		ids = append(ids, r.Active().ID())
		if err := r.RotateDataKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	active := r.Active()
	dropped, _ := r.Key(ids[0])
	inUse := map[uint64]bool{ids[1]: true, ids[3]: true}
	n, err := r.Retain(ctx, func(id uint64) bool { return inUse[id] })
	if err != nil || n != 2 {
		t.Fatalf("Retain = %d, %v; want 2", n, err)
	}
	if dropped.Key() != nil {
		t.Error("a dropped key was not zeroed")
	}
	for _, id := range []uint64{ids[0], ids[2]} {
		if _, err := r.Key(id); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("dropped key %s: %v", FormatID(id), err)
		}
	}
	for _, id := range []uint64{ids[1], ids[3], active.ID()} {
		if _, err := r.Key(id); err != nil {
			t.Errorf("kept key %s: %v", FormatID(id), err)
		}
	}
	// The active key stays even if the caller says nothing uses it.
	snap := fsys.snapshot()
	n, err = r.Retain(ctx, func(uint64) bool { return true })
	if n != 0 || err != nil {
		t.Errorf("Retain with everything in use = %d, %v", n, err)
	}
	sameSnapshot(t, "Retain with nothing to drop", snap, fsys.snapshot())
	if n, _ := r.Retain(ctx, func(uint64) bool { return false }); n != 2 || r.Active() != active || len(r.Keys()) != 1 {
		t.Errorf("Retain(nothing in use) = %d; keys %v", n, r.Keys())
	}
	want := keyBytes(r)
	r.Close()
	r = mustOpen(t, fsys, "/db", cfgWith(master, MethodAES128CTR, c))
	if !maps.Equal(keyBytes(r), want) {
		t.Error("Retain was not persisted")
	}
}

// collidingRand yields the ids in ids (big-endian) before the bytes of src,
// to force id collisions.
type collidingRand struct {
	ids [][]byte
	src io.Reader
}

func (c *collidingRand) Read(p []byte) (int, error) {
	if len(c.ids) > 0 && len(p) == 8 {
		n := copy(p, c.ids[0])
		c.ids = c.ids[1:]
		return n, nil
	}
	return c.src.Read(p)
}

// TestIDCollision: a new key whose random id is already taken (or 0) gets
// another id; the existing key is never replaced (tikv#14585).
func TestIDCollision(t *testing.T) {
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	cfg := cfgWith(master, MethodAES256CTR, c)
	r := mustOpen(t, fsys, "/db", cfg)
	old := r.Active()
	oldBytes := bytes.Clone(old.Key())
	r.Close()

	id := binary.BigEndian.AppendUint64(nil, old.ID())
	cr := &collidingRand{ids: [][]byte{id, make([]byte, 8), id}, src: rand.Reader}
	cfg.rand = cr
	cfg.Method = MethodAES128CTR // forces a new key at open
	r = mustOpen(t, fsys, "/db", cfg)
	if r.Active().ID() == old.ID() || r.Active().ID() == 0 {
		t.Fatalf("new key took id %s", FormatID(r.Active().ID()))
	}
	k, err := r.Key(old.ID())
	if err != nil || !bytes.Equal(k.Key(), oldBytes) || k.Method() != MethodAES256CTR {
		t.Fatalf("the existing key was replaced: %v, %v", k, err)
	}
	if len(r.Keys()) != 2 || len(cr.ids) != 0 {
		t.Errorf("keys %v; %d forced ids unused", r.Keys(), len(cr.ids))
	}
}
