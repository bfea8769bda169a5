package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// ckptKeys: keys [0, ckptFlushed) are in flushed tables, the rest only in
// the WAL when the checkpoint is taken.
const (
	ckptFlushed = 1500
	ckptKeys    = 1700
)

// ckptSource opens the engine and a Pebble store on it in dir, with
// flushed tables and an unflushed WAL.
func ckptSource(t *testing.T, base vfs.FS, dir string, cfg Config) (*FS, *pebble.DB) {
	t.Helper()
	f := mustOpen(t, base, dir, cfg)
	db, err := pebble.Open(dir, pebbleOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ckptKeys {
		if err := db.Set(canaryKey(i), canaryValue(i), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 && i < ckptFlushed {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f, db
}

// readAllKeys opens the Pebble store in dir on fs and checks every key.
func readAllKeys(t *testing.T, fs vfs.FS, dir, what string) {
	t.Helper()
	db, err := pebble.Open(dir, pebbleOptions(fs))
	if err != nil {
		t.Fatalf("%s: pebble.Open(%s): %v", what, dir, err)
	}
	defer db.Close()
	if err := readKeys(db, ckptKeys); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func readKeys(db *pebble.DB, n int) error {
	for i := range n {
		v, closer, err := db.Get(canaryKey(i))
		if err != nil {
			return fmt.Errorf("get key %d: %w", i, err)
		}
		ok := bytes.Equal(v, canaryValue(i))
		closer.Close()
		if !ok {
			return fmt.Errorf("key %d reads %q", i, v)
		}
	}
	return nil
}

// entriesOf lists the files of f's store tree that have an entry.
func entriesOf(t *testing.T, f *FS) map[string]bool {
	t.Helper()
	files, err := f.Files()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, fi := range files {
		if fi.Present && fi.Entry && !strings.HasPrefix(fi.Path, "../") {
			out[fi.Path] = true
		}
	}
	return out
}

// copyTree copies every file under src on from to dst on to, byte for byte.
func copyTree(t *testing.T, from vfs.FS, src string, to vfs.FS, dst string) {
	t.Helper()
	if err := to.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := from.List(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		s, d := from.PathJoin(src, n), to.PathJoin(dst, n)
		fi, err := from.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			copyTree(t, from, s, to, d)
			continue
		}
		if err := vfs.CopyAcrossFS(from, s, to, d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckpointPortable: a checkpoint taken through the engine, inside the
// store directory (as CockroachDB's auxiliary/checkpoints/NAME) or outside
// it, then moved (disk) or copied (MemFS) elsewhere, opens with the same
// master key, and Pebble reads every key, those only in the WAL included.
// The checkpoint is encrypted and its dictionary is its own; a wrong master
// key fails with keys.ErrWrongMasterKey; the source store keeps its entries
// and reads every key.
func TestCheckpointPortable(t *testing.T) {
	for _, disk := range []bool{false, true} {
		for _, inside := range []bool{true, false} {
			name := fmt.Sprintf("disk=%v/inside=%v", disk, inside)
			t.Run(name, func(t *testing.T) {
				var base, dest vfs.FS
				var root, destRoot string
				if disk {
					base, dest, root, destRoot = vfs.Default, vfs.Default, t.TempDir(), t.TempDir()
				} else {
					base, dest, root, destRoot = vfs.NewMem(), vfs.NewMem(), "/", "/restored"
				}
				checkpointPortable(t, base, dest, root, destRoot, inside, disk)
			})
		}
	}
}

func checkpointPortable(t *testing.T, base, dest vfs.FS, root, destRoot string, inside, disk bool) {
	dir := base.PathJoin(root, "store")
	ckpt := base.PathJoin(root, "ckpt")
	if inside {
		ckpt = base.PathJoin(dir, "auxiliary", "checkpoints", "c1")
	}
	cfg := testConfig(t, keys.MethodAES128CTR)
	f, db := ckptSource(t, base, dir, cfg)
	before := entriesOf(t, f)
	if err := db.Checkpoint(ckpt); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	// The checkpoint is a store of its own: the source forgets its files,
	// which would otherwise hold their keys here for as long as it exists
	// (and, moved away, forever: an open keeps a missing directory's).
	rck, err := f.relPath(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	f.dict.each(func(rel string, _ entry) {
		if strings.HasPrefix(rel, rck+"/") {
			t.Errorf("the source kept the entry of the exported checkpoint's %s", rel)
		}
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	mustClose(t, f)

	moved := dest.PathJoin(destRoot, "backup")
	if disk {
		if err := os.Rename(ckpt, moved); err != nil {
			t.Fatal(err)
		}
	} else {
		copyTree(t, base, ckpt, dest, moved)
		if err := base.RemoveAll(ckpt); err != nil {
			t.Fatal(err)
		}
	}

	// Encrypted: no canary, and the OPTIONS file is not Pebble's plaintext.
	raw := rawFiles(t, dest, moved)
	if hits := filesContaining(raw, []byte(canary)); len(hits) > 0 {
		t.Errorf("plaintext in the checkpoint: %v", hits)
	}
	options := 0
	for p, b := range raw {
		if strings.HasPrefix(dest.PathBase(p), "OPTIONS-") {
			options++
			if bytes.HasPrefix(b, []byte(pebbleOptionsHeader)) {
				t.Errorf("%s is plaintext", p)
			}
		}
	}
	if options == 0 {
		t.Errorf("no OPTIONS file in the checkpoint: %v", raw)
	}

	// tde's files in it are private, whatever the source's modes.
	if disk {
		for p := range raw {
			if n := filepath.Base(p); reserved(n) {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v (%v), want 0600", p, fi.Mode().Perm(), err)
				}
			}
		}
	}

	// A wrong master key changes nothing and says so.
	if _, err := Open(dest, moved, testConfig(t, keys.MethodAES128CTR)); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Fatalf("Open with a wrong master key: %v, want keys.ErrWrongMasterKey", err)
	}

	cf, err := Open(dest, moved, cfg)
	if err != nil {
		t.Fatalf("Open of the moved checkpoint: %v", err)
	}
	if !cf.Status().Strict {
		t.Errorf("the checkpoint of a strict store is not strict")
	}
	files, err := cf.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range files {
		if !fi.Entry || !fi.Present || fi.Method != keys.MethodAES128CTR || strings.HasPrefix(fi.Path, "../") {
			t.Errorf("checkpoint file %+v: want a present file with an entry of its own", fi)
		}
	}
	readAllKeys(t, cf, moved, "the moved checkpoint")
	mustClose(t, cf)

	// The source lost no entry of its own files and reads every key.
	f = mustOpen(t, base, dir, cfg)
	after := entriesOf(t, f)
	for p := range before {
		if _, err := base.Stat(f.abs(p)); err == nil && !after[p] {
			t.Errorf("the source store lost the entry of %s", p)
		}
	}
	if st := f.Status(); st.MissingDirEntries != 0 {
		t.Errorf("the source keeps %d entries of missing directories %v after the checkpoint moved away", st.MissingDirEntries, st.MissingDirs)
	}
	readAllKeys(t, f, dir, "the source store")
	mustClose(t, f)
}

// TestCheckpointNotStrict: the checkpoint of a store that was plaintext
// before encryption holds tables with no entry (plaintext) and encrypted
// ones; it is not strict either, and reads both.
func TestCheckpointNotStrict(t *testing.T) {
	mem := vfs.NewMem()
	db, err := pebble.Open("/store", pebbleOptions(mem))
	noErr(t, err)
	for i := range ckptFlushed {
		noErr(t, db.Set(canaryKey(i), canaryValue(i), pebble.Sync))
	}
	noErr(t, db.Close())
	cfg := testConfig(t, keys.MethodSM4CTR)
	f := mustOpen(t, mem, "/store", cfg)
	db, err = pebble.Open("/store", pebbleOptions(f))
	noErr(t, err)
	for i := ckptFlushed; i < ckptKeys; i++ {
		noErr(t, db.Set(canaryKey(i), canaryValue(i), pebble.Sync))
	}
	noErr(t, db.Checkpoint("/ckpt"))
	noErr(t, db.Close())
	mustClose(t, f)

	dest := vfs.NewMem()
	copyTree(t, mem, "/ckpt", dest, "/backup")
	cf, err := Open(dest, "/backup", cfg)
	if err != nil {
		t.Fatalf("Open of the copied checkpoint: %v", err)
	}
	if cf.Status().Strict {
		t.Errorf("the checkpoint of a store with plaintext files is strict")
	}
	readAllKeys(t, cf, "/backup", "the checkpoint of a migrated store")
	mustClose(t, cf)
}

// TestCheckpointCopiedAfterRotation: the registry a checkpoint holds is
// wrapped as it was when the checkpoint was taken; after the source's
// master key changes, the copy still opens with the old one.
func TestCheckpointCopiedAfterRotation(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodSM4CTR)
	f, db := ckptSource(t, mem, "/store", cfg)
	noErr(t, db.Checkpoint("/ckpt"))
	noErr(t, db.Close())
	newKey := MasterKeyConfig{Type: "file", Path: writeHexKey(t)}
	noErr(t, f.RotateMasterKey(newKey))
	mustClose(t, f)

	cf := mustOpen(t, mem, "/ckpt", cfg)
	readAllKeys(t, cf, "/ckpt", "the checkpoint under the old master key")
	mustClose(t, cf)
}

// TestCheckpointNotALiveStore: a Pebble store running in a subdirectory of
// the engine's store creates a manifest marker in a directory Pebble opened
// empty, like a checkpoint; it is not exported (it has Pebble's LOCK).
func TestCheckpointNotALiveStore(t *testing.T) {
	mem := vfs.NewMem()
	f := mustOpen(t, mem, "/s", testConfig(t, keys.MethodAES256CTR))
	db, err := pebble.Open("/s/db", pebbleOptions(f))
	noErr(t, err)
	for i := range 100 {
		noErr(t, db.Set(canaryKey(i), canaryValue(i), pebble.Sync))
	}
	noErr(t, db.Flush())
	noErr(t, db.Close())
	names, err := mem.List("/s/db")
	noErr(t, err)
	for _, n := range names {
		if reserved(n) {
			t.Errorf("a running Pebble store got tde's file %s", n)
		}
	}
	mustClose(t, f)
}

// TestCheckpointNestedStoreLeftAlone: re-encrypting the source (online and
// offline) leaves a checkpoint inside its directory alone: the checkpoint
// is a store of its own, whose dictionary a rewrite through the source
// would make stale and whose registry ReencryptAll would encrypt. Copied
// out afterwards, it opens and reads every key.
func TestCheckpointNestedStoreLeftAlone(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodAES128CTR)
	f, db := ckptSource(t, mem, "/store", cfg)
	ckpt := "/store/auxiliary/checkpoints/c1"
	noErr(t, db.Checkpoint(ckpt))
	noErr(t, f.RotateDataKey())
	noErr(t, f.Reencrypt(context.Background(), nil))
	noErr(t, db.Close())
	noErr(t, f.RotateDataKey())
	noErr(t, f.ReencryptAll(context.Background(), nil))
	mustClose(t, f)

	dest := vfs.NewMem()
	copyTree(t, mem, ckpt, dest, "/backup")
	cf, err := Open(dest, "/backup", cfg)
	if err != nil {
		t.Fatalf("Open of the copied checkpoint: %v", err)
	}
	readAllKeys(t, cf, "/backup", "the checkpoint copied after re-encryption")
	mustClose(t, cf)

	f = mustOpen(t, mem, "/store", cfg)
	readAllKeys(t, f, "/store", "the re-encrypted source")
	mustClose(t, f)
}

// TestCheckpointMissingEntry: a file with no entry in the checkpoint of a
// strict store (written around the engine) fails the checkpoint, naming
// the file: the copy could not read it. Pebble then removes the checkpoint.
func TestCheckpointMissingEntry(t *testing.T) {
	mem := vfs.NewMem()
	f, db := ckptSource(t, mem, "/store", testConfig(t, keys.MethodAES128CTR))
	noErr(t, db.Close())
	db, err := pebble.Open("/store", pebbleOptions(&intrudingFS{FS: f, base: mem}))
	noErr(t, err)
	err = db.Checkpoint("/ckpt")
	if !errors.Is(err, ErrMissingEntry) || !strings.Contains(err.Error(), "stray") {
		t.Errorf("Checkpoint with a file of no entry: %v, want ErrMissingEntry naming it", err)
	}
	if _, err := mem.Stat("/ckpt"); !oserror.IsNotExist(err) {
		t.Errorf("the failed checkpoint is still there: %v", err)
	}
	noErr(t, db.Close())
	mustClose(t, f)
}

// intrudingFS writes a file named stray on base, around the engine, in the
// directory where a manifest marker is created outside the store.
type intrudingFS struct {
	*FS
	base vfs.FS
}

func (i *intrudingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := i.FS.Create(name, c)
	if err == nil && strings.HasPrefix(i.base.PathBase(name), pebblefile.ManifestMarkerPrefix) && i.base.PathDir(name) != "/store" {
		stray, err := i.base.Create(i.base.PathJoin(i.base.PathDir(name), "stray"), c)
		if err != nil {
			return nil, err
		}
		stray.Close()
	}
	return f, err
}

// TestCheckpointCrash: a crash at any point of the export leaves a
// checkpoint directory that fails to open with a typed error (the
// fail-closed rule) or opens and reads every key; never garbage.
func TestCheckpointCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	cfg := testConfig(t, keys.MethodAES192CTR)
	hook := &crashHook{FS: mem, mem: mem, dir: "/ckpt"}
	f, db := ckptSource(t, hook, "/store", cfg)
	if err := db.Checkpoint("/ckpt"); err != nil {
		t.Fatal(err)
	}
	hook.clone("after the checkpoint")
	noErr(t, db.Close())
	mustClose(t, f)
	if len(hook.clones) < 20 {
		t.Fatalf("only %d crash points", len(hook.clones))
	}
	opened, refused := 0, 0
	for i, c := range hook.clones {
		where := fmt.Sprintf("crash point %d (%s)", i, c.where)
		cf, err := Open(c.fs, "/ckpt", cfg)
		if testing.Verbose() {
			t.Logf("%s: %v", where, err)
		}
		if err != nil {
			if !errors.Is(err, ErrLostMetadata) && !errors.Is(err, ErrCorruptDictionary) && !errors.Is(err, keys.ErrCorruptRegistry) {
				t.Errorf("%s: Open: %v, want a typed error", where, err)
			}
			refused++
			continue
		}
		db, err := pebble.Open("/ckpt", pebbleOptions(cf))
		if err != nil {
			t.Errorf("%s: the engine opened, but pebble.Open: %v", where, err)
		} else {
			if err := readKeys(db, ckptKeys); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			noErr(t, db.Close())
		}
		mustClose(t, cf)
		opened++
	}
	t.Logf("%d crash points: %d opened and read every key, %d refused with a typed error", len(hook.clones), opened, refused)
	if opened == 0 {
		t.Errorf("even after the checkpoint it does not open")
	}
}

// crashHook takes a crash clone of mem before and after each change the
// export makes to dir (tde's files there, and syncs of dir), while armed.
type crashHook struct {
	vfs.FS
	mem    *vfs.MemFS
	dir    string
	armed  atomic.Bool // Pebble's background jobs create files meanwhile
	clones []crashClone
}

type crashClone struct {
	where string
	fs    vfs.FS
}

// watched reports whether name is one of tde's files in dir; the first
// of the dictionary or registry arms the hook: the export has begun (the
// directory's identifier, extdir.go, comes with its first file).
func (h *crashHook) watched(name string) bool {
	if b := filepath.Base(name); filepath.Dir(name) == h.dir && reserved(b) && !strings.HasPrefix(b, dirIDFile) {
		h.armed.Store(true)
	}
	return h.armed.Load() && filepath.Dir(name) == h.dir
}

// clone takes three crash clones: with none, half and all of the data
// not synced yet.
func (h *crashHook) clone(where string) {
	for _, pct := range []int{0, 50, 100} {
		n := len(h.clones)
		h.clones = append(h.clones, crashClone{
			where: fmt.Sprintf("%s, %d%% of unsynced data kept", where, pct),
			fs:    h.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(1, uint64(n)))}),
		})
	}
}

func (h *crashHook) around(what string, op func() error) error {
	h.clone("before " + what)
	err := op()
	h.clone("after " + what)
	return err
}

func (h *crashHook) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if !h.watched(name) {
		return h.FS.Create(name, c)
	}
	var f vfs.File
	err := h.around("create "+name, func() (err error) { f, err = h.FS.Create(name, c); return err })
	if err != nil {
		return nil, err
	}
	return &crashHookFile{File: f, h: h, name: name}, nil
}

func (h *crashHook) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := h.FS.OpenReadWrite(name, c, opts...)
	if err != nil || !h.watched(name) {
		return f, err
	}
	return &crashHookFile{File: f, h: h, name: name}, nil
}

func (h *crashHook) Rename(from, to string) error {
	if !h.watched(to) {
		return h.FS.Rename(from, to)
	}
	return h.around("rename to "+to, func() error { return h.FS.Rename(from, to) })
}

func (h *crashHook) OpenDir(name string) (vfs.File, error) {
	d, err := h.FS.OpenDir(name)
	if err != nil || name != h.dir {
		return d, err
	}
	return &crashHookFile{File: d, h: h, name: name}, nil
}

func (h *crashHook) Unwrap() vfs.FS { return h.mem }

type crashHookFile struct {
	vfs.File
	h    *crashHook
	name string
}

func (f *crashHookFile) Write(p []byte) (int, error) {
	var n int
	err := f.h.around("write to "+f.name, func() (err error) { n, err = f.File.Write(p); return err })
	return n, err
}

func (f *crashHookFile) Sync() error {
	if !f.h.armed.Load() {
		return f.File.Sync()
	}
	return f.h.around("sync of "+f.name, f.File.Sync)
}

var _ io.Writer = (*crashHookFile)(nil)
