package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/tde-go/tde/keys"
)

// hostileStore makes a store on the disk at root/store with one file, and
// beside it a victim file and a victim's ".tde-reencrypt" twin. It returns
// the store directory, the config and the store's entries.
func hostileStore(t *testing.T, root string) (string, Config, map[string]entry) {
	t.Helper()
	dir := filepath.Join(root, "store")
	for _, n := range []string{"victim", "victim" + reencryptSuffix} {
		if err := os.WriteFile(filepath.Join(root, n), []byte("precious bytes of "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, vfs.Default, dir, cfg)
	w, err := f.Create(filepath.Join(dir, "000001.sst"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("table"))
	w.Sync()
	w.Close()
	mustClose(t, f) // ends the epoch: every file has its own record
	d, err := readDictionary(vfs.Default, dir, quietOpts())
	if err != nil {
		t.Fatal(err)
	}
	entries := dictContents(d)
	d.marker.Close()
	return dir, cfg, entries
}

// craftDiskLog writes a log of a header and one snapshot record of ops,
// built with the codec's own functions, and points the marker at it.
func craftDiskLog(t *testing.T, dir string, entries map[string]entry, ops ...dictOp) string {
	t.Helper()
	rec := []byte{recSnapshot}
	for rel, e := range entries {
		rec = appendOp(rec, dictOp{kind: opPut, path: rel, e: e})
	}
	for _, op := range ops {
		rec = appendOp(rec, op)
	}
	path := filepath.Join(dir, dictLogPrefix+"000009")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := record.NewWriter(f)
	for _, r := range [][]byte{appendHeader(nil, dictHeader{strict: true, created: time.Now()}), rec} {
		if _, err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m, _, err := atomicfs.LocateMarker(vfs.Default, dir, dictMarkerName)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Move(filepath.Base(path)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	return path
}

// TestHostileDictionaryPathsRefused: records whose path is absolute, not
// canonical, holds a NUL, or has ".." anywhere but in a leading run of
// "../" make the open fail with ErrCorruptDictionary naming the log, and
// change no byte of the store nor of the victim beside it.
func TestHostileDictionaryPathsRefused(t *testing.T) {
	e := entry{Method: keys.MethodPlaintext}
	bad := []string{
		"/etc/passwd", "a//b", "./a", "sub/", "a/../../victim", "wal/../x", "../a/../victim",
		"x\x00y", ".", "..", "../..", "../../",
	}
	cases := map[string]dictOp{}
	for _, p := range bad {
		cases["put "+p] = dictOp{kind: opPut, path: p, e: e}
	}
	cases["move to"] = dictOp{kind: opMove, path: "000001.sst", to: "a/../../victim", e: e}
	cases["move from"] = dictOp{kind: opMove, path: "/abs", to: "000002.sst", e: e}
	cases["delete"] = dictOp{kind: opDelete, path: "x/../../victim" + reencryptSuffix}
	cases["delete-prefix"] = dictOp{kind: opDeletePrefix, path: "/"}
	cases["exclude"] = dictOp{kind: opExclude, path: "../../victim/."}
	cases["epoch names"] = dictOp{kind: opEpoch, e: e, names: []string{"LOCK", "a//b"}}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir, cfg, entries := hostileStore(t, root)
			// The victim's absolute path too, for the put of an absolute path.
			if op.kind == opPut && op.path == "/etc/passwd" {
				op.path = filepath.Join(root, "victim")
			}
			log := craftDiskLog(t, dir, entries, op)
			before := hygieneSnapshot(t, root, "")
			_, err := Open(vfs.Default, dir, cfg)
			if !errors.Is(err, ErrCorruptDictionary) || !strings.Contains(err.Error(), log) {
				t.Fatalf("Open with %s = %v, want ErrCorruptDictionary naming %s", name, err, log)
			}
			if after := hygieneSnapshot(t, root, ""); after != before {
				t.Errorf("the failed open changed the disk:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestHostileDictionaryOutsideInert: the leading "../" form the engine
// writes for files outside the store is accepted, but names no file to act
// on: an open removes no "../victim.tde-reencrypt" (a leftover copy is only
// ever made inside the store tree), and ReencryptAll rewrites no
// "../victim", listing it as skipped instead.
func TestHostileDictionaryOutsideInert(t *testing.T) {
	root := t.TempDir()
	dir, cfg, entries := hostileStore(t, root)
	e := entry{Method: keys.MethodPlaintext}
	craftDiskLog(t, dir, entries,
		dictOp{kind: opPut, path: "../victim", e: e},
		dictOp{kind: opPut, path: "../victim" + reencryptSuffix, e: e})
	victims := func() string {
		var b strings.Builder
		for _, n := range []string{"victim", "victim" + reencryptSuffix} {
			data, err := os.ReadFile(filepath.Join(root, n))
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			b.WriteString(n + ":" + string(data) + "\n")
		}
		return b.String()
	}
	want := victims()

	f := mustOpen(t, vfs.Default, dir, cfg)
	if got := victims(); got != want {
		t.Fatalf("Open changed the files outside the store:\n%s\nwant\n%s", got, want)
	}
	var last Progress
	if err := f.ReencryptAll(context.Background(), func(p Progress) { last = p }); err != nil {
		t.Fatal(err)
	}
	if got := victims(); got != want {
		t.Fatalf("ReencryptAll changed the files outside the store:\n%s\nwant\n%s", got, want)
	}
	if !slices.Equal(last.Skipped, []string{"../victim"}) {
		t.Errorf("ReencryptAll skipped %v, want [../victim]", last.Skipped)
	}
	mustClose(t, f)
}

// TestDictionaryNeverWritesRefusedPaths: a path an open would refuse is
// refused on the way in too, so the engine cannot brick its own store
// (RemoveAll of the store's parent gives the directory "..").
func TestDictionaryNeverWritesRefusedPaths(t *testing.T) {
	fs := newDictStore(t)
	d := mustOpenDict(t, fs, quietOpts())
	putFile(t, fs, d, "../wal/000001.log", testEntry(2))
	for _, err := range []error{
		d.removePrefix(".."),
		d.put("a//b", testEntry(1)),
		d.move("x", "../a/../b", testEntry(1)),
	} {
		if err == nil || !strings.Contains(err.Error(), "refusing to record") {
			t.Errorf("got %v, want a refusal", err)
		}
	}
	mustCloseDict(t, d)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, map[string]entry{"../wal/000001.log": testEntry(2)})
	mustCloseDict(t, d)
}

// TestCreateOfRefusedNameChangesNothing: a name the dictionary would refuse
// to read back (a NUL byte, which MemFS accepts) is refused at Create, so
// the store still opens; on main the create path skipped the check and the
// next open failed with ErrCorruptDictionary.
func TestCreateOfRefusedNameChangesNothing(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, mem, "/s", cfg)
	for _, name := range []string{"/s/a\x00b", "/s/sub/a\x00b"} {
		if err := mem.MkdirAll("/s/sub", 0o755); err != nil {
			t.Fatal(err)
		}
		if w, err := f.Create(name, vfs.WriteCategoryUnspecified); err == nil {
			w.Close()
			t.Errorf("Create(%q) succeeded", name)
		} else if !strings.Contains(err.Error(), "refusing to record") {
			t.Errorf("Create(%q): %v, want a refusal to record the path", name, err)
		}
	}
	mustClose(t, f)
	mustClose(t, mustOpen(t, mem, "/s", cfg))
}
