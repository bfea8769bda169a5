package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

const canary = "tde-canary-7f3a9c" // must never reach the disk in the clear

func canaryKey(i int) []byte   { return fmt.Appendf(nil, "key-%06d-%s", i, canary) }
func canaryValue(i int) []byte { return fmt.Appendf(nil, "value-%06d-%s-%0200d", i, canary, i) }

// TestPebbleEndToEnd drives Pebble through the FS for every method: writes
// through the WAL, flushes, compactions, an ingested table and a checkpoint;
// reopens and reads everything back; then scans every raw file of the store
// for a canary the keys and values carry.
func TestPebbleEndToEnd(t *testing.T) {
	for _, m := range keys.Methods() {
		t.Run(m.String(), func(t *testing.T) {
			for _, disk := range []bool{false, true} {
				if disk && (testing.Short() || m != keys.MethodAES256CTR && m != keys.MethodPlaintext) {
					continue
				}
				base, dir := vfs.FS(vfs.NewMem()), "/store"
				if disk {
					base, dir = vfs.Default, t.TempDir()
				}
				pebbleEndToEnd(t, base, dir, m)
			}
		})
	}
}

func pebbleEndToEnd(t *testing.T, base vfs.FS, dir string, m keys.Method) {
	const n = 3000
	cfg := testConfig(t, m)
	efs := mustOpen(t, base, dir, cfg)
	db, err := pebble.Open(dir, pebbleOptions(efs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := db.Set(canaryKey(i), canaryValue(i), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Compact(context.Background(), []byte("key-"), []byte("key-~"), false); err != nil {
		t.Fatal(err)
	}

	// An sstable built outside the DB through the same FS, then ingested.
	ext := efs.PathJoin(dir, "ingest.sst")
	wf, err := efs.Create(ext, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(wf), sstable.WriterOptions{TableFormat: db.TableFormat()})
	for i := n; i < n+100; i++ {
		if err := w.Set(canaryKey(i), canaryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ingest(context.Background(), []string{ext}); err != nil {
		t.Fatal(err)
	}
	// Unflushed writes stay in the WAL only.
	for i := n + 100; i < n+200; i++ {
		if err := db.Set(canaryKey(i), canaryValue(i), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	ckpt := efs.PathJoin(dir, "checkpoints", "c1")
	if err := db.Checkpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	mustClose(t, efs)

	// Reopen: the store and its checkpoint read back every value. The
	// checkpoint is a store of its own, opened as one; through the source's
	// FS it is refused, never read as another store's files.
	efs = mustOpen(t, base, dir, cfg)
	if db, err := pebble.Open(ckpt, pebbleOptions(efs)); !errors.Is(err, ErrNestedStore) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("the checkpoint opened through the source's FS: %v, want ErrNestedStore", err)
	}
	cfs := mustOpen(t, base, ckpt, cfg)
	defer mustClose(t, cfs)
	for _, d := range []string{dir, ckpt} {
		fs := efs
		if d == ckpt {
			fs = cfs
		}
		db, err := pebble.Open(d, pebbleOptions(fs))
		if err != nil {
			t.Fatalf("reopen %s: %v", d, err)
		}
		for i := range n + 200 {
			v, closer, err := db.Get(canaryKey(i))
			if err != nil {
				t.Fatalf("%s: get %d: %v", d, i, err)
			}
			if string(v) != string(canaryValue(i)) {
				t.Fatalf("%s: key %d reads %q", d, i, v)
			}
			closer.Close()
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st := efs.Status()
	mustClose(t, efs)

	raw := rawFiles(t, base, dir)
	hits := filesContaining(raw, []byte(canary))
	if m == keys.MethodPlaintext {
		// The scan must be able to see the canary when it is there.
		if len(hits) == 0 {
			t.Fatalf("plaintext store: canary found in none of %d files; the scan is broken", len(raw))
		}
		return
	}
	if len(hits) > 0 {
		t.Errorf("%v: canary in the clear in %v", m, hits)
	}
	if st.Plaintext.Files != 0 || st.Older.Files != 0 || st.Active.Files == 0 {
		t.Errorf("status: active %+v, older %+v, plaintext %+v; want every file under the active key", st.Active, st.Older, st.Plaintext)
	}
}
