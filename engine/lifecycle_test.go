package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

func fillPebble(t *testing.T, fs vfs.FS, dir string, from, to int) {
	t.Helper()
	db, err := pebble.Open(dir, pebbleOptions(fs))
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if err := db.Set(canaryKey(i), canaryValue(i), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func checkPebble(t *testing.T, fs vfs.FS, dir string, n int) {
	t.Helper()
	db, err := pebble.Open(dir, pebbleOptions(fs))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		v, c, err := db.Get(canaryKey(i))
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if !bytes.Equal(v, canaryValue(i)) {
			t.Fatalf("key %d reads %q", i, v)
		}
		c.Close()
	}
}

// TestEncryptExistingPlaintextStore: a store written without tde is opened
// with encryption on: its files stay readable as plaintext, new files are
// encrypted, Status shows the mix, and Reencrypt moves the tables over
// while the DB is open.
func TestEncryptExistingPlaintextStore(t *testing.T) {
	base := vfs.NewMem()
	fillPebble(t, base, "/s", 0, 1000)

	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, base, "/s", cfg)
	if f.dict.strict() {
		t.Fatal("a store with plaintext files must not be strict")
	}
	fillPebble(t, f, "/s", 1000, 2000)
	checkPebble(t, f, "/s", 2000)
	st := f.Status()
	if st.Plaintext.Files == 0 || st.Active.Files == 0 {
		t.Fatalf("status after enabling: plaintext %+v, active %+v; want both", st.Plaintext, st.Active)
	}

	db, err := pebble.Open("/s", pebbleOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	it, _ := db.NewIter(nil) // a reader holding old tables open across the rewrite
	it.First()
	var calls atomic.Int32
	var last Progress
	if err := f.Reencrypt(context.Background(), func(p Progress) { calls.Add(1); last = p }); err != nil {
		t.Fatal(err)
	}
	if last.FilesDone != last.Files || last.Files == 0 || calls.Load() < 2 {
		t.Fatalf("progress: %+v after %d calls", last, calls.Load())
	}
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	it.Close()
	if n != 2000 {
		t.Fatalf("iterator open across re-encryption saw %d keys", n)
	}
	db.Close()
	checkPebble(t, f, "/s", 2000)
	st = f.Status()
	mustClose(t, f)

	raw := rawFiles(t, base, "/s")
	for p, b := range raw {
		if bytes.Contains(b, []byte(canary)) && pebblefile.Immutable(p) {
			t.Errorf("%s still holds the canary in the clear after Reencrypt", p)
		}
	}
	if st.Older.Files != 0 {
		t.Errorf("status after Reencrypt: %+v under older keys", st.Older)
	}
}

// TestRotation: data keys rotate on demand and by the clock; files keep
// their key; a key no file uses any more is dropped from the registry.
func TestRotation(t *testing.T) {
	base := vfs.NewMem()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cfg := testConfig(t, keys.MethodAES256CTR)
	cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
	cfg.RotationPeriod = time.Hour
	cfg.rotationCheck = 5 * time.Millisecond
	f := mustOpen(t, base, "/s", cfg)
	defer func() { mustClose(t, f) }()

	write := func(name, s string) {
		w, err := f.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(s))
		w.Close()
	}
	read := func(name string) string {
		r, err := f.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		return string(b)
	}
	write("/s/one", "first key")
	k1 := f.Status().ActiveKey.ID
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	write("/s/two", "second key")
	k2 := f.Status().ActiveKey.ID
	if k1 == k2 {
		t.Fatal("RotateDataKey kept the key")
	}
	if e, _ := f.dict.get("one"); e.KeyID != k1 {
		t.Fatal("old file's entry changed")
	}
	if read("/s/one") != "first key" || read("/s/two") != "second key" {
		t.Fatal("files unreadable after rotation")
	}

	// The clock passes the period: the loop rotates by itself.
	now.Add(int64(2 * time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for f.Status().ActiveKey.ID == k2 {
		if time.Now().After(deadline) {
			t.Fatal("no rotation after the period")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Removing the only file under k1 lets the loop drop k1.
	if err := f.Remove("/s/one"); err != nil {
		t.Fatal(err)
	}
	for hasKey(f, k1) {
		if time.Now().After(deadline) {
			t.Fatal("unused key kept")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !hasKey(f, k2) {
		t.Fatal("key still used by a file was dropped")
	}
	if read("/s/two") != "second key" {
		t.Fatal("file unreadable after retain")
	}
}

func hasKey(f *FS, id uint64) bool {
	for _, k := range f.reg.Keys() {
		if k.ID == id {
			return true
		}
	}
	return false
}

// TestRotateMasterKeyOnline rotates the master key under a running DB, then
// shows that only the new key opens the store.
func TestRotateMasterKeyOnline(t *testing.T) {
	base := vfs.NewMem()
	cfg := testConfig(t, keys.MethodSM4CTR)
	f := mustOpen(t, base, "/s", cfg)
	db, err := pebble.Open("/s", pebbleOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		db.Set(canaryKey(i), canaryValue(i), pebble.NoSync)
	}
	newKey := MasterKeyConfig{Type: "file", Path: writeHexKey(t)}
	if err := f.RotateMasterKey(newKey); err != nil {
		t.Fatal(err)
	}
	for i := 500; i < 1000; i++ {
		db.Set(canaryKey(i), canaryValue(i), pebble.NoSync)
	}
	db.Close()
	mustClose(t, f)

	if _, err := Open(base, "/s", cfg); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Fatalf("open with the old key = %v, want ErrWrongMasterKey", err)
	}
	cfg.MasterKey = newKey
	f = mustOpen(t, base, "/s", cfg)
	checkPebble(t, f, "/s", 1000)
	mustClose(t, f)
}

// snapshot is every file's bytes under dir, for "nothing changed" checks.
func snapshot(t *testing.T, base vfs.FS, dir string) string {
	raw := rawFiles(t, base, dir)
	var b bytes.Buffer
	for _, k := range sortedKeys(raw) {
		fmt.Fprintf(&b, "%s %x\n", k, raw[k])
	}
	return b.String()
}

func sortedKeys(m map[string][]byte) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestBadInputLeavesStoreUnchanged: each bad open fails with its typed error
// and leaves every byte of the directory as it was.
func TestBadInputLeavesStoreUnchanged(t *testing.T) {
	base := vfs.NewMem()
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, base, "/s", cfg)
	fillPebble(t, f, "/s", 0, 200)
	dictPath := f.dict.logPath()
	mustClose(t, f)

	cases := []struct {
		name   string
		mutate func(c *Config)
		damage func()
		want   error
		names  string // must appear in the error
	}{
		{"wrong master key", func(c *Config) { c.MasterKey.Path = writeHexKey(t) }, nil, keys.ErrWrongMasterKey, "TDE-KEYS"},
		{"missing previous key", func(c *Config) { c.MasterKey.Path = writeHexKey(t) }, nil, keys.ErrMissingPreviousKey, "TDE-KEYS"},
		{"unknown method", func(c *Config) { c.Method = 9 }, nil, ErrInvalidConfig, "Method"},
		{"missing key file", func(c *Config) { c.MasterKey.Path = "/nonexistent/key" }, nil, ErrInvalidConfig, "/nonexistent/key"},
		{"truncated dictionary", nil, func() { truncate(t, base, dictPath, 12) }, ErrCorruptDictionary, dictPath},
		{"garbage mid-dictionary", nil, func() { overwriteMid(t, base, dictPath) }, ErrCorruptDictionary, dictPath},
		{"bit-flipped dictionary", nil, func() { flipByte(t, base, dictPath, 20) }, ErrCorruptDictionary, dictPath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, base, "/s")
			if c.damage != nil {
				saved := rawFiles(t, base, "/s")[dictPath]
				defer restore(t, base, dictPath, saved)
				c.damage()
				before = snapshot(t, base, "/s")
			}
			cc := cfg
			if c.mutate != nil {
				c.mutate(&cc)
			}
			f, err := Open(base, "/s", cc)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(c.names)) {
				t.Errorf("error %q does not name %q", err, c.names)
			}
			if after := snapshot(t, base, "/s"); after != before {
				t.Fatal("a failed Open changed the store directory")
			}
		})
	}
}

func rewriteFile(t *testing.T, base vfs.FS, p string, b []byte) {
	w, err := base.Create(p, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Sync()
	w.Close()
}

// truncate cuts p to n bytes; inside the header record that is corruption,
// never a torn tail (the header is synced before the marker names the log).
func truncate(t *testing.T, base vfs.FS, p string, n int) {
	rewriteFile(t, base, p, rawFiles(t, base, base.PathDir(p))[p][:n])
}

// overwriteMid overwrites 40 bytes a third of the way into p, leaving the
// records after them intact: corruption in the middle, not a torn tail.
func overwriteMid(t *testing.T, base vfs.FS, p string) {
	b := bytes.Clone(rawFiles(t, base, base.PathDir(p))[p])
	copy(b[len(b)/3:], bytes.Repeat([]byte{0xAB}, 40))
	rewriteFile(t, base, p, b)
}

func flipByte(t *testing.T, base vfs.FS, p string, at int) {
	b := bytes.Clone(rawFiles(t, base, base.PathDir(p))[p])
	b[at] ^= 0x10
	rewriteFile(t, base, p, b)
}

func restore(t *testing.T, base vfs.FS, p string, b []byte) { rewriteFile(t, base, p, b) }

// TestMetrics checks the collectors' values after some I/O.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.Metrics = reg
	f := mustOpen(t, vfs.NewMem(), "/s", cfg)
	w, _ := f.Create("/s/a", vfs.WriteCategoryUnspecified)
	w.Write(make([]byte, 1000))
	w.Close()
	r, _ := f.Open("/s/a")
	r.ReadAt(make([]byte, 300), 0)
	r.Close()
	for name, want := range map[string]float64{
		"tde_encryption_initialized": 1,
		"tde_data_keys":              1,
		"tde_encrypted_files":        1,
		"tde_dictionary_entries":     1,
	} {
		if got := gaugeValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	const exp = `
# HELP tde_decrypted_bytes_total Bytes decrypted on read, by method.
# TYPE tde_decrypted_bytes_total counter
tde_decrypted_bytes_total{method="aes128-ctr"} 300
tde_decrypted_bytes_total{method="aes192-ctr"} 0
tde_decrypted_bytes_total{method="aes256-ctr"} 0
tde_decrypted_bytes_total{method="sm4-ctr"} 0
# HELP tde_encrypted_bytes_total Bytes encrypted on write, by method.
# TYPE tde_encrypted_bytes_total counter
tde_encrypted_bytes_total{method="aes128-ctr"} 1000
tde_encrypted_bytes_total{method="aes192-ctr"} 0
tde_encrypted_bytes_total{method="aes256-ctr"} 0
tde_encrypted_bytes_total{method="sm4-ctr"} 0
`
	if err := testutil.GatherAndCompare(reg, bytes.NewBufferString(exp), "tde_encrypted_bytes_total", "tde_decrypted_bytes_total"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(reg, "tde_dictionary_write_seconds"); n != 1 {
		t.Errorf("dictionary write histogram: %d series", n)
	}
	mustClose(t, f)
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series left registered after Close", n)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestTornDictionaryIsLoud: a dictionary cut short (a torn tail, which open
// drops) loses the records of the last files. A file of the store directory
// created in the epoch gets the entry the epoch implies and reads back; any
// other file (here one in a subdirectory, which no epoch covers) is, in a
// strict store, ErrMissingEntry naming it, never plaintext garbage.
func TestTornDictionaryIsLoud(t *testing.T) {
	base := vfs.NewMem()
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, base, "/s", cfg)
	w, _ := f.Create("/s/000001.sst", vfs.WriteCategoryUnspecified)
	w.Write([]byte("first"))
	w.Close()
	size := f.dict.size()
	w, _ = f.Create("/s/000002.sst", vfs.WriteCategoryUnspecified)
	w.Write([]byte("second"))
	w.Close()
	if err := f.MkdirAll("/s/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	w, _ = f.Create("/s/sub/000003.sst", vfs.WriteCategoryUnspecified)
	w.Write([]byte("third"))
	w.Close()
	p := f.dict.logPath()
	mustClose(t, f)
	truncate(t, base, p, int(size)+3) // tear the records after the first file's

	f = mustOpen(t, base, "/s", cfg)
	defer mustClose(t, f)
	r, err := f.Open("/s/000001.sst")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "first" {
		t.Fatalf("file before the tear reads %q", b)
	}
	if r, err = f.Open("/s/000002.sst"); err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r)
	r.Close()
	if string(b) != "second" {
		t.Fatalf("the epoch's file whose record was torn off reads %q", b)
	}
	_, err = f.Open("/s/sub/000003.sst")
	var me *MissingEntryError
	if !errors.Is(err, ErrMissingEntry) || !errors.As(err, &me) || me.Path != "/s/sub/000003.sst" {
		t.Fatalf("file whose entry was torn off: %v, want ErrMissingEntry naming it", err)
	}
}
