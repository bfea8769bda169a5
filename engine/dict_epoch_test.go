package engine

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// readThrough reads name whole through fs.
func readThrough(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	r, err := fs.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if err := errors.Join(err, r.Close()); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// crashableStore makes /s on a crashable MemFS, durable, and opens it.
func crashableStore(t *testing.T, cfg Config) (*vfs.MemFS, *FS) {
	t.Helper()
	mem := vfs.NewCrashableMem()
	if err := errors.Join(mem.MkdirAll("/s", 0o755), syncDir(mem, "/")); err != nil {
		t.Fatal(err)
	}
	return mem, mustOpen(t, mem, "/s", cfg)
}

// TestEpochCreatesWithoutSync: the first create of a session syncs the
// dictionary once (it begins the epoch); the next creates in the store
// directory sync nothing and write nothing, and take the IVs the epoch
// implies, all distinct; a create in a subdirectory still syncs.
func TestEpochCreatesWithoutSync(t *testing.T) {
	c := &syncCounter{}
	f := mustOpen(t, errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(c.inject)), "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	_, dict0 := c.counts()
	writeFile(t, f, "/s/000001.sst", []byte("one"))
	if _, dict := c.counts(); dict != dict0+1 {
		t.Fatalf("the first create synced the dictionary %d times, want 1", dict-dict0)
	}
	ep := f.dict.state.epoch
	if ep == nil {
		t.Fatal("no epoch after the first create")
	}
	size := f.dict.size()
	_, dict0 = c.counts()
	ivs := map[[16]byte]string{}
	first, _ := f.dict.get("000001.sst")
	ivs[first.IV] = "000001.sst"
	for _, n := range []string{"000002.sst", "000003.log", "MANIFEST-000004", "OPTIONS-000005"} {
		writeFile(t, f, "/s/"+n, []byte(n))
		e, ok := f.dict.get(n)
		if !ok {
			t.Fatalf("%s has no entry", n)
		}
		if want := implicitIV(ep.e.IV, n); e.IV != want || e.KeyID != ep.e.KeyID || e.Method != keys.MethodAES128CTR {
			t.Errorf("%s: entry %+v, want the epoch's key and implied IV %x", n, e, want)
		}
		if other, dup := ivs[e.IV]; dup {
			t.Errorf("%s and %s share an IV", n, other)
		}
		ivs[e.IV] = n
		if got := readThrough(t, f, "/s/"+n); string(got) != n {
			t.Errorf("%s reads %q", n, got)
		}
	}
	if _, dict := c.counts(); dict != dict0 || f.dict.size() != size {
		t.Errorf("creates in the epoch synced the dictionary %d times and wrote %d bytes, want none", dict-dict0, f.dict.size()-size)
	}
	if err := f.MkdirAll("/s/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, "/s/sub/x.sst", []byte("x"))
	if _, dict := c.counts(); dict != dict0+1 {
		t.Errorf("a create in a subdirectory synced the dictionary %d times, want 1", dict-dict0)
	}
}

// TestEpochNameTwice: a name created twice in one epoch gets a random IV
// and a synced record the second time: never the keystream of the first.
func TestEpochNameTwice(t *testing.T) {
	c := &syncCounter{}
	f := mustOpen(t, errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(c.inject)), "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	writeFile(t, f, "/s/000001.log", []byte("begin the epoch"))
	writeFile(t, f, "/s/000002.log", []byte("first"))
	first, _ := f.dict.get("000002.log")
	// Create over it, and create it again after a removal.
	for i, over := range []bool{true, false} {
		if !over {
			if err := f.Remove("/s/000002.log"); err != nil {
				t.Fatal(err)
			}
		}
		_, dict0 := c.counts()
		writeFile(t, f, "/s/000002.log", []byte("again"))
		e, _ := f.dict.get("000002.log")
		if e.IV == first.IV || e.IV == implicitIV(f.dict.state.epoch.e.IV, "000002.log") {
			t.Errorf("case %d: the name's second entry reuses its implied IV", i)
		}
		if _, dict := c.counts(); dict != dict0+1 {
			t.Errorf("case %d: the second create synced the dictionary %d times, want 1", i, dict-dict0)
		}
		first = e
	}
}

// TestEpochCrashRecovers: files created in the epoch whose records a crash
// lost (their data and names durable) read back after the crash; the open
// says so and records them, so the next open has nothing to recover.
func TestEpochCrashRecovers(t *testing.T) {
	var logs bytes.Buffer
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	mem, f := crashableStore(t, cfg)
	writeFile(t, f, "/s/000001.sst", []byte("begins the epoch"))
	want := map[string][]byte{}
	for _, n := range []string{"000002.sst", "000003.log", "MANIFEST-000004"} {
		want[n] = bytes.Repeat([]byte(n), 1000)
		writeFile(t, f, "/s/"+n, want[n])
	}
	// Recycle a WAL in the epoch too.
	w, err := f.ReuseForWrite("/s/000003.log", "/s/000005.log", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	want["000005.log"] = []byte("recycled")
	delete(want, "000003.log")
	if _, err := w.Write(bytes.Clone(want["000005.log"])); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Sync(), w.Close(), syncDir(mem, "/s")); err != nil {
		t.Fatal(err)
	}
	if len(f.dict.queued) == 0 {
		t.Fatal("no record waits: the test crashes nothing")
	}
	clone := mem.CrashClone(vfs.CrashCloneCfg{})
	mustClose(t, f)

	g := mustOpen(t, clone, "/s", cfg)
	for n, b := range want {
		// A recycled file keeps the old bytes past what was written.
		if got := readThrough(t, g, "/s/"+n); !bytes.HasPrefix(got, b) {
			t.Errorf("%s does not read back after the crash", n)
		}
	}
	if !bytes.Contains(logs.Bytes(), []byte("gave files created before a crash")) {
		t.Error("the open did not say it recovered files")
	}
	if g.dict.state.epoch != nil {
		t.Error("the open kept the crashed epoch running")
	}
	mustClose(t, g)
	logs.Reset()
	h := mustOpen(t, clone, "/s", cfg)
	defer mustClose(t, h)
	if bytes.Contains(logs.Bytes(), []byte("gave files")) {
		t.Error("the second open recovered files again: the first did not record them")
	}
	if got := readThrough(t, h, "/s/000002.sst"); !bytes.Equal(got, want["000002.sst"]) {
		t.Error("000002.sst does not read back at the second open")
	}
}

// TestEpochLeavesOthersAlone: after a crash, the epoch claims only files
// it created. A plaintext file from before encryption, a plaintext file
// renamed in the epoch and a lock file stay without an entry (plaintext);
// in a strict store a foreign file stays ErrMissingEntry; so does one
// copied in after a clean close.
func TestEpochLeavesOthersAlone(t *testing.T) {
	t.Run("plaintext store", func(t *testing.T) {
		cfg := testConfig(t, keys.MethodAES128CTR)
		mem := vfs.NewCrashableMem()
		if err := mem.MkdirAll("/s", 0o755); err != nil {
			t.Fatal(err)
		}
		old := []byte("plaintext from before encryption")
		writeFile(t, mem, "/s/000001.sst", old)
		writeFile(t, mem, "/s/000002.sst", old)
		if err := errors.Join(syncDir(mem, "/"), syncDir(mem, "/s")); err != nil {
			t.Fatal(err)
		}
		f := mustOpen(t, mem, "/s", cfg)
		if f.dict.strict() {
			t.Fatal("a store with plaintext files opened strict")
		}
		writeFile(t, f, "/s/000003.sst", []byte("begins the epoch"))
		if err := f.Rename("/s/000002.sst", "/s/000004.sst"); err != nil {
			t.Fatal(err)
		}
		l, err := f.Lock("/s/LOCK")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, f, "/s/000005.sst", []byte("the epoch's"))
		if err := syncDir(mem, "/s"); err != nil {
			t.Fatal(err)
		}
		clone := mem.CrashClone(vfs.CrashCloneCfg{})
		l.Close()
		mustClose(t, f)

		g := mustOpen(t, clone, "/s", cfg)
		defer mustClose(t, g)
		for _, n := range []string{"000001.sst", "000004.sst"} {
			if got := readThrough(t, g, "/s/"+n); !bytes.Equal(got, old) {
				t.Errorf("plaintext %s reads %q after the crash", n, got)
			}
		}
		for _, n := range []string{"000001.sst", "000004.sst", "LOCK"} {
			if _, ok := g.dict.get(n); ok {
				t.Errorf("the crashed epoch claimed %s", n)
			}
		}
		if got := readThrough(t, g, "/s/000005.sst"); string(got) != "the epoch's" {
			t.Errorf("the epoch's own file reads %q", got)
		}
	})
	t.Run("strict store", func(t *testing.T) {
		cfg := testConfig(t, keys.MethodAES128CTR)
		mem, f := crashableStore(t, cfg)
		if !f.dict.strict() {
			t.Fatal("an empty store opened not strict")
		}
		writeFile(t, f, "/s/000001.sst", []byte("ours"))
		mustClose(t, f)
		// Foreign files: one there before the next session's epoch
		// begins, one after a clean close.
		writeFile(t, mem, "/s/foreign-1.sst", []byte("foreign"))
		f = mustOpen(t, mem, "/s", cfg)
		writeFile(t, f, "/s/000002.sst", []byte("begins the epoch"))
		writeFile(t, f, "/s/000003.sst", []byte("the epoch's"))
		if err := errors.Join(syncDir(mem, "/s")); err != nil {
			t.Fatal(err)
		}
		clone := mem.CrashClone(vfs.CrashCloneCfg{})
		mustClose(t, f)

		g := mustOpen(t, clone, "/s", cfg)
		if _, err := g.Open("/s/foreign-1.sst"); !errors.Is(err, ErrMissingEntry) {
			t.Errorf("foreign file after the crash: %v, want ErrMissingEntry", err)
		}
		if got := readThrough(t, g, "/s/000003.sst"); string(got) != "the epoch's" {
			t.Errorf("the epoch's own file reads %q", got)
		}
		writeFile(t, g, "/s/000004.sst", []byte("a new epoch"))
		mustClose(t, g)
		writeFile(t, clone, "/s/foreign-2.sst", []byte("foreign"))
		h := mustOpen(t, clone, "/s", cfg)
		defer mustClose(t, h)
		if _, err := h.Open("/s/foreign-2.sst"); !errors.Is(err, ErrMissingEntry) {
			t.Errorf("foreign file copied in after a clean close: %v, want ErrMissingEntry", err)
		}
	})
}

// TestEpochKeyChange: a new active key begins a new epoch, whose record
// carries the old epoch's waiting records; after a crash files of both
// epochs read back, each under its key.
func TestEpochKeyChange(t *testing.T) {
	cfg := testConfig(t, keys.MethodAES128CTR)
	mem, f := crashableStore(t, cfg)
	writeFile(t, f, "/s/000001.sst", []byte("begins epoch 1"))
	writeFile(t, f, "/s/000002.sst", []byte("in epoch 1"))
	first := f.dict.state.epoch.e
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, "/s/000003.sst", []byte("begins epoch 2"))
	writeFile(t, f, "/s/000004.sst", []byte("in epoch 2"))
	second := f.dict.state.epoch.e
	if second.KeyID == first.KeyID || second.IV == first.IV {
		t.Fatalf("the new key's epoch has key %d nonce %x; the first had %d, %x", second.KeyID, second.IV, first.KeyID, first.IV)
	}
	if err := syncDir(mem, "/s"); err != nil {
		t.Fatal(err)
	}
	clone := mem.CrashClone(vfs.CrashCloneCfg{})
	mustClose(t, f)
	g := mustOpen(t, clone, "/s", cfg)
	defer mustClose(t, g)
	for n, want := range map[string]string{"000002.sst": "in epoch 1", "000004.sst": "in epoch 2"} {
		if got := readThrough(t, g, "/s/"+n); string(got) != want {
			t.Errorf("%s reads %q after the crash", n, got)
		}
	}
	if e, _ := g.dict.get("000002.sst"); e.KeyID != first.KeyID {
		t.Errorf("000002.sst is under key %d, want the first epoch's %d", e.KeyID, first.KeyID)
	}
}
