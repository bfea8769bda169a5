package engine

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Recovery: torn tails, corruption, moves undone, entries collected.

// buildLog writes n puts (and their files) and returns the log's path and
// the offset where each record ends.
func buildLog(t testing.TB, fs vfs.FS, n int, rel func(i int) string) (string, []int64) {
	t.Helper()
	d := mustOpenDict(t, fs, quietOpts())
	ends := []int64{d.size()}
	for i := range n {
		putFile(t, fs, d, rel(i), testEntry(i))
		ends = append(ends, d.size())
	}
	path := d.logPath()
	mustCloseDict(t, d)
	if got := int64(len(readBytes(t, fs, path))); got != ends[n] {
		t.Fatalf("size() = %d, log holds %d bytes", ends[n], got)
	}
	return path, ends
}

func shortName(i int) string { return fmt.Sprintf("%06d.sst", i) }

// TestDictTornTail: a log cut anywhere inside its last record (or anywhere
// inside an earlier one, everything after gone) opens with the records
// before the cut, logs the drop, and appends made afterwards survive a
// second reopen.
func TestDictTornTail(t *testing.T) {
	base := newDictStore(t)
	const n = 6
	path, ends := buildLog(t, base, n, shortName)
	full := readBytes(t, base, path)

	var cuts []int64
	for c := ends[n-1]; c < ends[n]; c++ {
		cuts = append(cuts, c) // every byte of the last record
	}
	cuts = append(cuts, ends[2]+1, ends[3]+8, ends[4]-1, ends[1]+chunkHeaderSize)

	for _, cut := range cuts {
		kept := 0
		for kept < n && ends[kept+1] <= cut {
			kept++
		}
		for _, tail := range []string{"cut", "zeros", "zeros+fragment"} {
			data := slices.Clone(full[:cut])
			switch tail {
			case "zeros":
				// A crash clone keeps the file's length with the unsynced
				// bytes zeroed.
				data = append(data, make([]byte, len(full)-int(cut))...)
			case "zeros+fragment":
				// Or keeps a later piece of the unsynced record only.
				if int(cut)+12 >= len(full) {
					continue
				}
				data = append(data, make([]byte, 5)...)
				data = append(data, full[cut+5:cut+12]...)
			}
			t.Run(fmt.Sprintf("cut=%d/%s", cut, tail), func(t *testing.T) {
				fs := newDictStore(t)
				for i := range n {
					touchRel(t, fs, shortName(i))
				}
				writeBytes(t, fs, path, data)
				setDictMarker(t, fs, "TDE-DICT-000001")

				var logs syncLogBuffer
				opts := dictOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
				d := mustRead(t, fs, opts)
				want := make(map[string]entry)
				for i := range kept {
					want[shortName(i)] = testEntry(i)
				}
				checkContents(t, d, want)
				if int64(len(data)) > ends[kept] && !strings.Contains(logs.String(), "torn") {
					t.Errorf("dropping a torn tail logged nothing: %q", logs.String())
				}

				// start rewrites: appending behind the torn record
				// would leave garbage mid-log.
				if err := d.start(false); err != nil {
					t.Fatal(err)
				}
				if int64(len(data)) > ends[kept] {
					if got := listDictLogs(t, fs); !slices.Equal(got, []string{"TDE-DICT-000002"}) {
						t.Fatalf("logs after a torn-tail start: %v", got)
					}
				}
				putFile(t, fs, d, "after.sst", testEntry(99))
				want["after.sst"] = testEntry(99)
				mustCloseDict(t, d)
				d = mustOpenDict(t, fs, quietOpts())
				checkContents(t, d, want)
				mustCloseDict(t, d)
			})
		}
	}
}

// TestDictZeroTail: zeros after the last record (a crash that extended the
// file but wrote none of the record) open cleanly; appends after them read
// back, whatever the zeros' length, including the few that the record
// reader skips as block padding.
func TestDictZeroTail(t *testing.T) {
	base := newDictStore(t)
	path, ends := buildLog(t, base, 3, shortName)
	full := readBytes(t, base, path)
	for z := 1; z <= 40; z++ {
		fs := newDictStore(t)
		for i := range 3 {
			touchRel(t, fs, shortName(i))
		}
		writeBytes(t, fs, path, append(slices.Clone(full), make([]byte, z)...))
		setDictMarker(t, fs, "TDE-DICT-000001")
		d := mustOpenDict(t, fs, quietOpts())
		want := map[string]entry{shortName(0): testEntry(0), shortName(1): testEntry(1), shortName(2): testEntry(2)}
		checkContents(t, d, want)
		putFile(t, fs, d, "after.sst", testEntry(9))
		want["after.sst"] = testEntry(9)
		mustCloseDict(t, d)
		d, err := readDictionary(fs, testDictDir, quietOpts())
		if err != nil {
			t.Fatalf("%d zero bytes after the log's %d: reopen after an append: %v", z, ends[3], err)
		}
		checkContents(t, d, want)
		d.close()
	}
}

// TestDictCorruptMiddle: one flipped bit anywhere in a record that valid
// records follow is corruption, reported with the log and the record's
// offset, and the open leaves the directory unchanged.
func TestDictCorruptMiddle(t *testing.T) {
	base := newDictStore(t)
	const n = 5
	path, ends := buildLog(t, base, n, shortName)
	full := readBytes(t, base, path)
	for _, rec := range []int{1, 2, n - 2} {
		for i := ends[rec]; i < ends[rec+1]; i++ {
			data := slices.Clone(full)
			data[i] ^= 1 << (i % 8)
			fs := newDictStore(t)
			writeBytes(t, fs, path, data)
			setDictMarker(t, fs, "TDE-DICT-000001")
			before := treeBytes(t, fs, testDictDir)
			_, err := readDictionary(fs, testDictDir, quietOpts())
			wantCorrupt(t, err, path, ends[rec])
			if !maps.Equal(before, treeBytes(t, fs, testDictDir)) {
				t.Fatal("a failed open changed the directory")
			}
		}
	}
}

// TestDictMultiChunkRecord: a record spanning blocks is torn when its
// later chunk is cut, corrupt when a bit flips in it and records follow.
func TestDictMultiChunkRecord(t *testing.T) {
	base := newDictStore(t)
	long := "d/" + strings.Repeat("x", 40<<10)
	names := func(i int) string {
		if i == 1 {
			return long
		}
		return shortName(i)
	}
	path, ends := buildLog(t, base, 3, names)
	full := readBytes(t, base, path)
	if ends[2] < blockSize {
		t.Fatalf("the long record ends at %d, inside the first block", ends[2])
	}
	setup := func(data []byte) *vfs.MemFS {
		fs := newDictStore(t)
		writeBytes(t, fs, path, data)
		setDictMarker(t, fs, "TDE-DICT-000001")
		for i := range 3 {
			touchRel(t, fs, names(i))
		}
		return fs
	}
	// Cut in the second chunk: the first chunk is intact and a valid
	// record start, but nothing follows the damage.
	fs := setup(full[:blockSize+100])
	d := mustRead(t, fs, quietOpts())
	checkContents(t, d, map[string]entry{shortName(0): testEntry(0)})
	d.close()

	data := slices.Clone(full)
	data[blockSize+100] ^= 4
	_, err := readDictionary(setup(data), testDictDir, quietOpts())
	wantCorrupt(t, err, path, ends[1])
}

// TestDictCollect: entries of files gone from a directory that exists are
// dropped at read (which writes nothing); start then rewrites the log. A
// directory gone with its files keeps their entries (missingdirs.go).
func TestDictCollect(t *testing.T) {
	fs := newDictStore(t)
	if err := fs.MkdirAll("/waldir", 0o755); err != nil {
		t.Fatal(err)
	}
	d := mustOpenDict(t, fs, quietOpts())
	want := make(map[string]entry)
	for i, rel := range []string{"1.sst", "2.sst", "3.sst", "wal/1.log", "wal/2.log", "../waldir/1.log", "../waldir/2.log"} {
		putFile(t, fs, d, rel, testEntry(i))
		want[rel] = testEntry(i)
	}
	// A put whose file was never created (a crash between the two).
	if err := d.put("4.sst", testEntry(4)); err != nil {
		t.Fatal(err)
	}
	mustCloseDict(t, d)

	// Files removed behind the dictionary's back (a crash between the
	// removal and its record).
	fs.Remove(testDictDir + "/2.sst")
	fs.RemoveAll(testDictDir + "/wal")
	fs.Remove("/waldir/2.log")
	for _, rel := range []string{"2.sst", "../waldir/2.log"} {
		delete(want, rel)
	}

	before := treeBytes(t, fs, "/")
	var logs syncLogBuffer
	d = mustRead(t, fs, dictOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	checkContents(t, d, want)
	if !maps.Equal(before, treeBytes(t, fs, "/")) {
		t.Fatal("readDictionary wrote to the filesystem")
	}
	if !strings.Contains(logs.String(), "entries=3") {
		t.Errorf("log does not count 3 entries collected: %q", logs.String())
	}
	if err := d.start(false); err != nil {
		t.Fatal(err)
	}
	if got := listDictLogs(t, fs); !slices.Equal(got, []string{"TDE-DICT-000002"}) {
		t.Fatalf("logs after collecting: %v", got)
	}
	mustCloseDict(t, d)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, want)
	mustCloseDict(t, d)

	// A directory that cannot be listed is an error, not "everything in
	// it is gone".
	efs := errorfs.Wrap(fs, errorfs.ErrInjected.If(errorfs.And(errorfs.PathMatch("/waldir"), errorfs.Reads)))
	if _, err := readDictionary(efs, testDictDir, quietOpts()); !isInjected(err) {
		t.Fatalf("readDictionary with a failing List: %v", err)
	}
}

func renameRel(t testing.TB, fs vfs.FS, from, to string) {
	t.Helper()
	if err := fs.Rename(testDictDir+"/"+from, testDictDir+"/"+to); err != nil {
		t.Fatal(err)
	}
}

// TestDictMoveUndo: a move whose source is still on disk at open (the
// renameRel never happened) is undone, restoring both names' previous entries,
// but only while the move is the last record naming either.
func TestDictMoveUndo(t *testing.T) {
	e1, e2, e3, fresh := testEntry(1), testEntry(2), testEntry(3), testEntry(9)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, fs vfs.FS, d *dictionary)
		want map[string]entry
	}{
		{"renameRel not done", func(t *testing.T, fs vfs.FS, d *dictionary) {
			d.move("a", "b", e1)
		}, map[string]entry{"a": e1}},
		{"renameRel over a file not done", func(t *testing.T, fs vfs.FS, d *dictionary) {
			putFile(t, fs, d, "b", e2)
			d.move("a", "b", e1)
		}, map[string]entry{"a": e1, "b": e2}},
		{"reuse not done", func(t *testing.T, fs vfs.FS, d *dictionary) {
			d.move("a", "b", fresh)
		}, map[string]entry{"a": e1}},
		{"renameRel done", func(t *testing.T, fs vfs.FS, d *dictionary) {
			d.move("a", "b", e1)
			renameRel(t, fs, "a", "b")
		}, map[string]entry{"b": e1}},
		{"source recreated after the rename", func(t *testing.T, fs vfs.FS, d *dictionary) {
			d.move("a", "b", e1)
			renameRel(t, fs, "a", "b")
			putFile(t, fs, d, "a", e3)
		}, map[string]entry{"a": e3, "b": e1}},
		{"destination rewritten after the rename", func(t *testing.T, fs vfs.FS, d *dictionary) {
			d.move("a", "b", e1)
			renameRel(t, fs, "a", "b")
			touchRel(t, fs, "a") // by something else, without an entry
			putFile(t, fs, d, "b", e3)
		}, map[string]entry{"b": e3}},
		{"a later move settles the first", func(t *testing.T, fs vfs.FS, d *dictionary) {
			d.move("a", "b", e1)
			renameRel(t, fs, "a", "b")
			d.move("b", "c", e1)
			// c's renameRel not done: b comes back, with e1.
		}, map[string]entry{"b": e1}},
		{"pending move kept by a rewrite", func(t *testing.T, fs vfs.FS, d *dictionary) {
			putFile(t, fs, d, "b", e2)
			d.move("a", "b", e1)
			old := d.logPath()
			for d.logPath() == old {
				putFile(t, fs, d, "other", e3)
			}
		}, map[string]entry{"a": e1, "b": e2, "other": e3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newDictStore(t)
			d := mustOpenDict(t, fs, dictOptions{RewriteThreshold: 8, Logger: quietOpts().Logger})
			putFile(t, fs, d, "a", e1)
			tc.run(t, fs, d)
			mustCloseDict(t, d)

			d = mustRead(t, fs, quietOpts())
			checkContents(t, d, tc.want)
			if err := d.start(false); err != nil {
				t.Fatal(err)
			}
			mustCloseDict(t, d)
			d = mustOpenDict(t, fs, quietOpts())
			checkContents(t, d, tc.want)

			// start rewrote the undone move away: removing the source now
			// noErr not let the move take effect on the next open.
			if _, ok := tc.want["a"]; ok {
				fs.Remove(testDictDir + "/a")
				if err := d.remove("a"); err != nil {
					t.Fatal(err)
				}
				delete(tc.want, "a")
				mustCloseDict(t, d)
				d = mustOpenDict(t, fs, quietOpts())
				checkContents(t, d, tc.want)
			}
			mustCloseDict(t, d)
		})
	}
}
