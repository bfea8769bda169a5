package engine

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// TestLockStore: LockStore takes Pebble's LOCK, so neither Pebble nor a
// second LockStore can open the store while it is held, and says which
// store is in use; a missing directory is reported, not created.
func TestLockStore(t *testing.T) {
	mem := vfs.NewMem()
	fillPebble(t, mem, "/s", 0, 10)
	l, err := LockStore(mem, "/s")
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockStore(mem, "/s/")
	var ue *StoreInUseError
	if !errors.Is(err, ErrStoreInUse) || !errors.As(err, &ue) || ue.Dir != "/s" || !strings.Contains(err.Error(), "/s/LOCK") {
		t.Fatalf("second LockStore = %v, want ErrStoreInUse naming /s/LOCK", err)
	}
	if db, err := pebble.Open("/s", pebbleOptions(mem)); err == nil {
		db.Close()
		t.Fatal("pebble.Open succeeded on a store LockStore holds")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = LockStore(mem, "/s")
	if err != nil {
		t.Fatalf("LockStore after release: %v", err)
	}
	l.Close()

	if _, err := LockStore(mem, "/nope"); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nope") {
		t.Fatalf("LockStore of a missing directory = %v, want ErrNotExist naming it", err)
	}
	if _, err := mem.Stat("/nope"); err == nil {
		t.Fatal("LockStore created the missing directory")
	}

	// On disk, against a lock taken as Pebble takes it.
	dir := t.TempDir()
	held, err := vfs.Default.Lock(vfs.Default.PathJoin(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockStore(vfs.Default, dir); !errors.Is(err, ErrStoreInUse) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("LockStore of a locked disk store = %v, want ErrStoreInUse naming it", err)
	}
	held.Close()
	l, err = LockStore(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// offlineWALOptions are pebbleOptions with the WAL in a directory beside the
// store, so the dictionary has entries outside the store directory.
func offlineWALOptions(fs vfs.FS) *pebble.Options {
	o := pebbleOptions(fs)
	o.WALDir = "/wal"
	return o
}

// offlineMixedStore writes a store on base at /s whose files are in every state
// ReencryptAll meets: plaintext files from before tde (no entries),
// files under an aes128 data key, files under a second, rotated one, and
// WALs in /wal outside the store directory. It returns the config that
// wrote it and the number of keys.
func offlineMixedStore(t *testing.T, base vfs.FS) (Config, int) {
	t.Helper()
	fill := func(fs vfs.FS, from, to int) {
		db, err := pebble.Open("/s", offlineWALOptions(fs))
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			if err := db.Set(canaryKey(i), canaryValue(i), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			if i == (from+to)/2 {
				if err := db.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := db.Close(); err != nil { // leaves the second half in the WAL
			t.Fatal(err)
		}
	}
	fill(base, 0, 200)
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, base, "/s", cfg)
	fill(f, 200, 400)
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	fill(f, 400, 600)
	mustClose(t, f)
	return cfg, 600
}

func offlineCheck(t *testing.T, fs vfs.FS, n int) {
	t.Helper()
	db, err := pebble.Open("/s", offlineWALOptions(fs))
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

// TestReencryptAll moves every file of a closed store (WALs, MANIFEST,
// OPTIONS, markers, tables, the WAL directory outside the store) to the
// active key, drops every other data key, and leaves no canary in the
// clear; then to plaintext, which leaves no data key at all.
func TestReencryptAll(t *testing.T) {
	base := vfs.NewMem()
	cfg, n := offlineMixedStore(t, base)
	cfg.Method = keys.MethodSM4CTR // a method change: a new active key
	f := mustOpen(t, base, "/s", cfg)
	st := f.Status()
	if st.Plaintext.Files == 0 || st.Older.Files == 0 || len(st.Keys) != 3 {
		t.Fatalf("store before: plaintext %+v, older %+v, %d keys; want all three kinds", st.Plaintext, st.Older, len(st.Keys))
	}
	var calls []Progress
	if err := f.ReencryptAll(context.Background(), func(p Progress) { calls = append(calls, p) }); err != nil {
		t.Fatal(err)
	}
	last := calls[len(calls)-1]
	// The WALs outside the store directory are left alone (the dictionary
	// is not trusted to name files to rewrite): listed, not rewritten.
	skipped := last.Skipped
	if len(skipped) == 0 || !slices.Equal(calls[0].Skipped, skipped) {
		t.Fatalf("progress: skipped %v first, %v last; want the WALs in /wal", calls[0].Skipped, skipped)
	}
	wal := extName(t, base, "/wal") + "/"
	for _, rel := range skipped {
		if !strings.HasPrefix(rel, wal) {
			t.Errorf("skipped %s, want only files of /wal (%s)", rel, wal)
		}
	}
	if calls[0].FilesDone != 0 || last.FilesDone != last.Files || len(calls) != last.Files+1 || last.BytesDone != last.Bytes || last.Files != st.Older.Files+st.Plaintext.Files-(len(skipped)-st.UnseenDirEntries) {
		t.Fatalf("progress: first %+v, last %+v, %d calls; status before %+v", calls[0], last, len(calls), st)
	}
	active := f.Status().ActiveKey.ID
	kinds := map[string]bool{}
	files, err := f.Files()
	if err != nil {
		t.Fatal(err)
	}
	kept := map[uint64]bool{active: true} // the keys the registry may keep
	for _, fi := range files {
		if slices.Contains(skipped, fi.Path) {
			if !fi.Entry || fi.KeyID == active || !fi.Present && !f.unseen(fi.Path) {
				t.Errorf("skipped %+v, want it under its old key", fi)
			}
			kept[fi.KeyID] = true
			continue
		}
		if !fi.Entry || fi.KeyID != active || fi.Method != keys.MethodSM4CTR || !fi.Present {
			t.Errorf("after ReencryptAll: %+v, want under %s", fi, keys.FormatID(active))
		}
		switch {
		case strings.HasPrefix(fi.Path, "MANIFEST-"):
			kinds["manifest"] = true
		case strings.HasPrefix(fi.Path, "OPTIONS-"):
			kinds["options"] = true
		case strings.HasPrefix(fi.Path, "marker."):
			kinds["marker"] = true
		case strings.HasSuffix(fi.Path, ".sst"):
			kinds["sst"] = true
		}
	}
	if len(kinds) != 4 {
		t.Errorf("files re-encrypted: %v, want manifest, options, marker and sst", kinds)
	}
	for _, k := range f.reg.Keys() {
		if !kept[k.ID] {
			t.Errorf("registry after ReencryptAll: %v, want only the active key and the skipped files' keys", f.reg.Keys())
		}
	}
	// A second run has nothing to do.
	calls = nil
	if err := f.ReencryptAll(context.Background(), func(p Progress) { calls = append(calls, p) }); err != nil || len(calls) != 1 || calls[0].Files != 0 {
		t.Fatalf("second run: %v, progress %+v", err, calls)
	}
	offlineCheck(t, f, n)
	mustClose(t, f)
	for _, d := range []string{"/s", "/wal"} {
		if hits := filesContaining(rawFiles(t, base, d), []byte(canary)); len(hits) > 0 {
			t.Errorf("canary in the clear after ReencryptAll: %v", hits)
		}
	}

	// To plaintext: every file rewritten unencrypted but the skipped ones,
	// no data key left but theirs.
	cfg.Method = keys.MethodPlaintext
	f = mustOpen(t, base, "/s", cfg)
	if err := f.ReencryptAll(context.Background(), func(p Progress) { last = p }); err != nil {
		t.Fatal(err)
	}
	st = f.Status()
	// Pebble rolled the WALs since (offlineCheck): the old ones are gone and
	// the one it made is under the sm4 key, which it keeps.
	skipped = last.Skipped
	if files, err = f.Files(); err != nil {
		t.Fatal(err)
	}
	kept = map[uint64]bool{}
	for _, fi := range files {
		if slices.Contains(skipped, fi.Path) {
			kept[fi.KeyID] = true
		}
	}
	if len(skipped) == 0 || st.Plaintext.Files != st.Total().Files-(len(skipped)-st.UnseenDirEntries) || st.Total().Files == 0 || len(f.reg.Keys()) != len(kept) {
		t.Errorf("after ReencryptAll to plaintext: %+v, keys %v; want all plaintext but the %d skipped files and their keys", st, f.reg.Keys(), len(skipped))
	}
	offlineCheck(t, f, n)
	mustClose(t, f)
	if hits := filesContaining(rawFiles(t, base, "/s"), []byte(canary)); len(hits) == 0 {
		t.Error("plaintext store: canary found nowhere; the scan is broken")
	}
}

// TestReencryptAllRefusesOpenFiles: a store with files open (a running
// Pebble) is not re-encrypted offline.
func TestReencryptAllRefusesOpenFiles(t *testing.T) {
	base := vfs.NewMem()
	f := mustOpen(t, base, "/s", testConfig(t, keys.MethodAES128CTR))
	db, err := pebble.Open("/s", pebbleOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ReencryptAll(context.Background(), nil); !errors.Is(err, ErrFilesOpen) {
		t.Fatalf("ReencryptAll under a running DB = %v, want ErrFilesOpen", err)
	}
	db.Close()
	mustClose(t, f)
	if err := f.ReencryptAll(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReencryptAll after Close = %v, want ErrClosed", err)
	}
}

// TestReencryptAllResumes: a run stopped after k files leaves those files
// done, and the next run rewrites only the rest.
func TestReencryptAllResumes(t *testing.T) {
	for _, k := range []int{0, 1, 3} {
		base := vfs.NewMem()
		cfg, n := offlineMixedStore(t, base)
		cfg.Method = keys.MethodAES256CTR
		f := mustOpen(t, base, "/s", cfg)
		ctx, cancel := context.WithCancel(context.Background())
		total := 0
		err := f.ReencryptAll(ctx, func(p Progress) {
			total = p.Files
			if p.FilesDone == k {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("k=%d: stopped run = %v, want context.Canceled", k, err)
		}
		mustClose(t, f)

		f = mustOpen(t, base, "/s", cfg)
		var first Progress
		if err := f.ReencryptAll(context.Background(), func(p Progress) {
			if p.FilesDone == 0 {
				first = p
			}
		}); err != nil {
			t.Fatal(err)
		}
		if first.Files != total-k {
			t.Errorf("k=%d: resumed run has %d files to do, want %d of %d", k, first.Files, total-k, total)
		}
		// Status counts no file of a directory it has not seen.
		if st := f.Status(); st.Active.Files != st.Total().Files-(len(first.Skipped)-st.UnseenDirEntries) {
			t.Errorf("k=%d: after resuming: %+v", k, st)
		}
		offlineCheck(t, f, n)
		mustClose(t, f)
	}
}

// TestReencryptAllCrash stops ReencryptAll at every write it makes (or an
// even sample of them, TDE_CRASH_POINTS), twice: a power loss (a crash
// clone with only what was synced) and a kill (an exact copy of the files
// as they are). Each copy must open, read every value through Pebble (which
// then writes files of its own), finish re-encrypting when run again, end
// with every file under the active key and a single data key, and read
// every value back after a reopen.
//
// Power losses keep none of the unsynced directory entries. Keeping some at
// random (UnsyncedDataPercent between 1 and 100; even 100 brings back a
// synced name whose removal was not synced) can keep a rename's new name
// and its old one both, which no journaling filesystem does (a rename is
// atomic) and from which no rename-based protocol can recover; a kill is
// modelled by a copy instead.
func TestReencryptAllCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	cfg, n := offlineMixedStore(t, mem)
	cfg.Method = keys.MethodAES192CTR
	pristine := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 1))})

	// run re-encrypts a copy of the store, calling at(i) before its i-th
	// write, and once more when ReencryptAll has returned.
	run := func(at func(i int, fs *vfs.MemFS)) {
		fs := pristine.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 1))})
		armed, i := false, 0
		hook := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if armed && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
				at(i, fs)
				i++
			}
			return nil
		})
		f := mustOpen(t, errorfs.Wrap(fs, hook), "/s", cfg)
		armed = true
		if err := f.ReencryptAll(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		armed = false
		at(i, fs)
		mustClose(t, f)
	}
	writes := 0
	run(func(int, *vfs.MemFS) { writes++ })

	// Slot 2i is a power loss before write i, slot 2i+1 a kill; take an
	// even sample of the slots, and always a power loss after the end,
	// once ReencryptAll said it was done.
	slots := 2 * writes
	points := min(crashPoints(t), slots)
	chosen := map[int]bool{2 * (writes - 1): true}
	for p := range points {
		chosen[p*slots/points] = true
	}
	type crash struct {
		at    int
		power bool
		fs    vfs.FS
	}
	var crashes []crash
	run(func(i int, fs *vfs.MemFS) {
		if chosen[2*i] {
			crashes = append(crashes, crash{i, true, fs.CrashClone(vfs.CrashCloneCfg{})})
		}
		if chosen[2*i+1] {
			killed := vfs.NewMem()
			if _, err := vfs.Clone(fs, killed, "/", "/"); err != nil {
				t.Fatal(err)
			}
			crashes = append(crashes, crash{i, false, killed})
		}
	})
	t.Logf("%d writes in a run; %d crash points", writes-1, len(crashes))
	leftovers := 0
	for _, c := range crashes {
		f, err := Open(c.fs, "/s", cfg)
		if err != nil {
			t.Fatalf("crash before write %d (power loss %v): open: %v", c.at, c.power, err)
		}
		offlineCheck(t, f, n)
		if err := f.ReencryptAll(context.Background(), nil); err != nil {
			t.Fatalf("crash before write %d (power loss %v): resumed run: %v", c.at, c.power, err)
		}
		st := f.Status()
		if st.Active.Files != st.Total().Files || len(f.reg.Keys()) != 1 {
			t.Fatalf("crash before write %d (power loss %v): after resuming: active %+v of %+v, keys %v",
				c.at, c.power, st.Active, st.Total(), f.reg.Keys())
		}
		mustClose(t, f)
		f = mustOpen(t, c.fs, "/s", cfg)
		offlineCheck(t, f, n)
		files, err := f.Files()
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range files {
			if strings.HasSuffix(fi.Path, reencryptSuffix) {
				t.Fatalf("crash before write %d: %s left behind", c.at, fi.Path)
			}
		}
		mustClose(t, f)
		names, _ := c.fs.List("/s")
		for _, nm := range names {
			if strings.HasSuffix(nm, reencryptSuffix) {
				leftovers++
			}
		}
	}
	if leftovers > 0 {
		t.Errorf("%d partial copies left on disk after reopening", leftovers)
	}
}

// TestNotUnderActiveKey: what a migration left is the older keys' files,
// plaintext ones too while the method encrypts, less the files skipped
// outside the store directory.
func TestNotUnderActiveKey(t *testing.T) {
	st := Status{
		Method:    keys.MethodAES256CTR,
		Active:    Usage{Files: 5, Bytes: 500},
		Older:     Usage{Files: 2, Bytes: 20},
		Plaintext: Usage{Files: 1, Bytes: 3},
	}
	if got, want := st.NotUnderActiveKey(nil), (Usage{Files: 3, Bytes: 23}); got != want {
		t.Errorf("encrypting: %+v, want %+v", got, want)
	}
	if got, want := st.NotUnderActiveKey([]string{"../wal/000004.log"}), (Usage{Files: 2, Bytes: 23}); got != want {
		t.Errorf("encrypting, one skipped: %+v, want %+v", got, want)
	}
	st.Method = keys.MethodPlaintext
	if got, want := st.NotUnderActiveKey(nil), (Usage{Files: 2, Bytes: 20}); got != want {
		t.Errorf("plaintext: %+v, want %+v", got, want)
	}
}
