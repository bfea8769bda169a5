package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
)

// The log's life: resume, rewrite, start, misuse.

// TestDictResume: a clean reopen appends to the existing log wherever it
// ended, including in a block's last few bytes, too few for a chunk
// header; the appended records read back.
func TestDictResume(t *testing.T) {
	for end := int64(blockSize - 12); end <= blockSize+1; end++ {
		fs := newDictStore(t)
		d := mustOpenDict(t, fs, quietOpts())
		want := make(map[string]entry)
		i := 0
		for d.size() < end-250 {
			rel := fmt.Sprintf("filler-%04d", i)
			putFile(t, fs, d, rel, testEntry(i))
			want[rel] = testEntry(i)
			i++
		}
		// One put sized to end exactly at end: 7 bytes of chunk header,
		// type, op, path length (2 bytes), path, method, key id, IV.
		pathLen := int(end-d.size()) - (chunkHeaderSize + 1 + 1 + 2 + 1 + 1 + ivLen)
		if end%blockSize == 1 {
			pathLen = 150 // lands wherever: the writer pads the block
		}
		rel := strings.Repeat("p", pathLen)
		putFile(t, fs, d, rel, testEntry(1))
		want[rel] = testEntry(1)
		if end%blockSize != 1 && d.size() != end {
			t.Fatalf("sizing: log ends at %d, want %d", d.size(), end)
		}
		mustCloseDict(t, d)

		for round := range 3 {
			d = mustOpenDict(t, fs, quietOpts())
			if got := d.logPath(); got != testDictDir+"/TDE-DICT-000001" {
				t.Fatalf("end %d: clean reopen rewrote the log (%s)", end, got)
			}
			rel := fmt.Sprintf("after-%d", round)
			putFile(t, fs, d, rel, testEntry(round))
			want[rel] = testEntry(round)
			mustCloseDict(t, d)
		}
		d = mustRead(t, fs, quietOpts())
		checkContents(t, d, want)
		d.close()
	}
}

// TestDictRewrite: crossing the threshold writes a new log, moves the
// marker and removes the old log; the dictContents read back unchanged.
func TestDictRewrite(t *testing.T) {
	fs := newDictStore(t)
	var writes int
	opts := dictOptions{RewriteThreshold: 10, OnWrite: func(time.Duration) { writes++ }, Logger: quietOpts().Logger}
	d := mustOpenDict(t, fs, opts)
	want := make(map[string]entry)
	for i := range 3 {
		putFile(t, fs, d, shortName(i), testEntry(i))
		want[shortName(i)] = testEntry(i)
	}
	// The 11th append past the start crosses max(10, 2*3).
	for i := range 8 {
		if got := listDictLogs(t, fs); !slices.Equal(got, []string{"TDE-DICT-000001"}) {
			t.Fatalf("logs after %d appends: %v", 3+i, got)
		}
		rel := shortName(i % 3)
		if err := d.put(rel, testEntry(10+i)); err != nil {
			t.Fatal(err)
		}
		want[rel] = testEntry(10 + i)
	}
	if writes != 11 {
		t.Errorf("OnWrite called %d times for 11 appends", writes)
	}
	if got := listDictLogs(t, fs); !slices.Equal(got, []string{"TDE-DICT-000002"}) {
		t.Fatalf("logs after a rewrite: %v", got)
	}
	if v, err := atomicfs.ReadMarker(fs, testDictDir, dictMarkerName); err != nil || v != "TDE-DICT-000002" {
		t.Fatalf("marker = %q, %v", v, err)
	}
	if d.logPath() != testDictDir+"/TDE-DICT-000002" {
		t.Fatalf("logPath() = %q", d.logPath())
	}
	if got := int64(len(readBytes(t, fs, d.logPath()))); got != d.size() {
		t.Fatalf("size() = %d, the log holds %d", d.size(), got)
	}
	checkContents(t, d, want)
	// Appends go to the new log.
	putFile(t, fs, d, "new.sst", testEntry(5))
	want["new.sst"] = testEntry(5)
	mustCloseDict(t, d)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, want)
	mustCloseDict(t, d)

	// A big dictionary's snapshot spans many records and blocks.
	d = mustOpenDict(t, fs, quietOpts())
	for i := range 3000 {
		rel := fmt.Sprintf("big/%06d.sst", i)
		putFile(t, fs, d, rel, testEntry(i))
		want[rel] = testEntry(i)
	}
	d.wmu.Lock()
	err := d.rewrite()
	d.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if d.size() < 2*blockSize {
		t.Fatalf("snapshot of 3000 entries is %d bytes", d.size())
	}
	mustCloseDict(t, d)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, want)
	mustCloseDict(t, d)
}

// TestDictStartCleansUp: markers and logs a crash left behind are removed.
func TestDictStartCleansUp(t *testing.T) {
	fs := newDictStore(t)
	d := mustOpenDict(t, fs, quietOpts())
	putFile(t, fs, d, "a", testEntry(1))
	mustCloseDict(t, d)
	writeBytes(t, fs, testDictDir+"/TDE-DICT-000000", []byte("old"))
	writeBytes(t, fs, testDictDir+"/TDE-DICT-000005", []byte("unfinished"))
	writeBytes(t, fs, testDictDir+"/marker.tde-dict.000000.TDE-DICT-000000", nil)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, map[string]entry{"a": testEntry(1)})
	mustCloseDict(t, d)
	names, _ := fs.List(testDictDir)
	slices.Sort(names)
	if want := []string{"TDE-DICT-000001", "a", "marker.tde-dict.000001.TDE-DICT-000001"}; !slices.Equal(names, want) {
		t.Fatalf("directory after start: %v, want %v", names, want)
	}
}

func TestDictMisuse(t *testing.T) {
	fs := newDictStore(t)
	d := mustRead(t, fs, quietOpts())
	if err := d.put("a", testEntry(1)); err == nil {
		t.Error("put before start succeeded")
	}
	if err := d.start(false); err != nil {
		t.Fatal(err)
	}
	if err := d.start(false); err == nil {
		t.Error("a second start succeeded")
	}
	for name, err := range map[string]error{
		"empty path":     d.put("", testEntry(1)),
		"no method":      d.put("a", entry{}),
		"unknown method": d.move("a", "b", entry{Method: 42}),
		"empty prefix":   d.removePrefix(""),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if d.len() != 0 {
		t.Fatal("a refused op changed the map")
	}
	mustCloseDict(t, d)
	if err := d.put("a", testEntry(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("put after close: %v", err)
	}
	if err := d.close(); err != nil {
		t.Errorf("second close: %v", err)
	}

	// A directory that does not exist yet reads as an empty dictionary;
	// start fails until the directory exists.
	empty := vfs.NewMem()
	d, err := readDictionary(empty, testDictDir, quietOpts())
	if err != nil || d.created() {
		t.Fatalf("readDictionary of a missing directory: %v", err)
	}
	if err := d.start(false); err == nil {
		t.Fatal("start in a missing directory succeeded")
	}
	d.close()
}

// BenchmarkOpenDictionary100k reads and starts a dictionary of 100,000
// entries, every file present, from a log of 100,000 appended records and
// from a rewritten (snapshot) log.
func BenchmarkOpenDictionary100k(b *testing.B) {
	for _, form := range []string{"appended", "snapshot"} {
		b.Run("log="+form, func(b *testing.B) {
			fs := newDictStore(b)
			d := mustOpenDict(b, fs, quietOpts())
			for i := range 100_000 {
				rel := fmt.Sprintf("%06d.sst", i)
				if err := d.put(rel, testEntry(i)); err != nil {
					b.Fatal(err)
				}
				f, err := fs.Create(fs.PathJoin(testDictDir, rel), vfs.WriteCategoryUnspecified)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			if form == "snapshot" {
				d.wmu.Lock()
				err := d.rewrite()
				d.wmu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(d.size())
			mustCloseDict(b, d)
			b.ResetTimer()
			for range b.N {
				d := mustOpenDict(b, fs, quietOpts())
				if d.len() != 100_000 {
					b.Fatalf("%d entries", d.len())
				}
				b.StopTimer()
				mustCloseDict(b, d)
				b.StartTimer()
			}
		})
	}
}
