package engine

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/tde-go/tde/keys"
)

// The log format: encode and decode every op, refuse what is corrupt.

func TestDictRoundTrip(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			fs := newDictStore(t)
			d := mustRead(t, fs, quietOpts())
			if d.created() || d.logPath() != "" || d.len() != 0 {
				t.Fatalf("fresh dictionary: created %v, logPath %q, len %d", d.created(), d.logPath(), d.len())
			}
			if err := d.start(strict); err != nil {
				t.Fatal(err)
			}
			if d.strict() != strict {
				t.Fatalf("strict() = %v after start(%v)", d.strict(), strict)
			}
			if got, want := d.logPath(), testDictDir+"/TDE-DICT-000001"; got != want {
				t.Fatalf("logPath() = %q, want %q", got, want)
			}

			want := make(map[string]entry)
			for i, rel := range []string{"000005.sst", "wal/000007.log", "../waldir/000001.log", "wal/000008.log", "OPTIONS-000003", "sub/dir/a", "sub/dir/b", "sub/other"} {
				putFile(t, fs, d, rel, testEntry(i))
				want[rel] = testEntry(i)
			}
			plain := entry{Method: keys.MethodPlaintext}
			putFile(t, fs, d, "plain.txt", plain)
			want["plain.txt"] = plain

			// Overwrite: a fresh IV for a rewritten file.
			putFile(t, fs, d, "000005.sst", testEntry(50))
			want["000005.sst"] = testEntry(50)

			// Rename, and WAL reuse over a name with an entry.
			if err := d.move("OPTIONS-000003", "OPTIONS-000004", want["OPTIONS-000003"]); err != nil {
				t.Fatal(err)
			}
			if err := fs.Rename(testDictDir+"/OPTIONS-000003", testDictDir+"/OPTIONS-000004"); err != nil {
				t.Fatal(err)
			}
			want["OPTIONS-000004"] = want["OPTIONS-000003"]
			delete(want, "OPTIONS-000003")
			if err := d.move("wal/000007.log", "wal/000008.log", testEntry(60)); err != nil {
				t.Fatal(err)
			}
			if err := fs.Rename(testDictDir+"/wal/000007.log", testDictDir+"/wal/000008.log"); err != nil {
				t.Fatal(err)
			}
			want["wal/000008.log"] = testEntry(60)
			delete(want, "wal/000007.log")

			// Remove, after the file.
			fs.Remove(testDictDir + "/plain.txt")
			if err := d.remove("plain.txt"); err != nil {
				t.Fatal(err)
			}
			delete(want, "plain.txt")
			size := d.size()
			if err := d.remove("no-such-file"); err != nil {
				t.Fatal(err)
			}
			if err := d.removePrefix("no-such-dir"); err != nil {
				t.Fatal(err)
			}
			if d.size() != size {
				t.Fatalf("removing nothing wrote a record: size %d, was %d", d.size(), size)
			}

			// RemoveAll of a directory: sub/dir goes, sub/other stays.
			fs.RemoveAll(testDictDir + "/sub/dir")
			if err := d.removePrefix("sub/dir"); err != nil {
				t.Fatal(err)
			}
			delete(want, "sub/dir/a")
			delete(want, "sub/dir/b")
			if d.size() <= size {
				t.Fatalf("size() = %d, did not grow from %d", d.size(), size)
			}

			checkContents(t, d, want)
			mustCloseDict(t, d)

			d = mustRead(t, fs, quietOpts())
			if !d.created() || d.strict() != strict {
				t.Fatalf("reopened: created %v, strict %v", d.created(), d.strict())
			}
			checkContents(t, d, want)
			if err := d.start(!strict); err != nil {
				t.Fatal(err)
			}
			if d.strict() != strict {
				t.Fatal("start changed the strict flag of an existing dictionary")
			}
			// Nothing was dropped: the log is appended to, not rewritten.
			if got := d.logPath(); got != testDictDir+"/TDE-DICT-000001" {
				t.Fatalf("logPath() = %q after a clean reopen", got)
			}
			putFile(t, fs, d, "000009.sst", testEntry(9))
			want["000009.sst"] = testEntry(9)
			mustCloseDict(t, d)
			d = mustOpenDict(t, fs, quietOpts())
			checkContents(t, d, want)
			mustCloseDict(t, d)
		})
	}
}

func TestDictCodec(t *testing.T) {
	ops := []dictOp{
		{kind: opPut, path: "000001.sst", e: testEntry(1)},
		{kind: opPut, path: "../waldir/000002.log", e: entry{Method: keys.MethodPlaintext}},
		{kind: opDelete, path: "000001.sst"},
		{kind: opDeletePrefix, path: "sub/dir"},
		{kind: opMove, path: "a", to: "b/c", e: testEntry(3)},
		{kind: opPut, path: strings.Repeat("x", 300), e: entry{Method: keys.MethodSM4CTR, KeyID: 1<<64 - 1}},
		{kind: opEpoch, e: testEntry(4), names: []string{"LOCK", "plain.sst"}},
		{kind: opExclude, path: "000009.sst"},
		{kind: opEpoch, e: entry{Method: keys.MethodPlaintext}},
		{kind: opEpochEnd},
		{kind: opMovePrefix, path: "a", to: "b/c"},
		{kind: opSettle, path: "a", to: "b/c"},
	}
	b := []byte{recSnapshot}
	for _, op := range ops {
		b = appendOp(b, op)
	}
	kind, got, err := decodeRecord(b, nil)
	if err != nil || kind != recSnapshot || !slices.EqualFunc(got, ops, sameOp) {
		t.Fatalf("decodeRecord = %d, %v, %v; want %v", kind, got, err, ops)
	}
	// A prefix of a record is an error unless it ends between ops: never
	// a made-up op.
	for i := 1; i < len(b); i++ {
		_, got, err := decodeRecord(b[:i], nil)
		if err != nil {
			continue
		}
		enc := []byte{recSnapshot}
		for _, op := range got {
			enc = appendOp(enc, op)
		}
		if len(got) >= len(ops) || !slices.EqualFunc(got, ops[:len(got)], sameOp) || !bytes.Equal(enc, b[:i]) {
			t.Fatalf("decodeRecord of %d of %d bytes: %v", i, len(b), got)
		}
	}

	h := dictHeader{strict: true, created: time.Unix(1700000000, 5), entries: 123456}
	hb := appendHeader(nil, h)
	if g, err := decodeHeader(hb); err != nil || g.strict != h.strict || !g.created.Equal(h.created) || g.entries != h.entries {
		t.Fatalf("decodeHeader = %v, %v; want %v", g, err, h)
	}
	bad := map[string][]byte{
		"unknown record type": appendOp([]byte{9}, ops[0]),
		"unknown op type":     {recUpdate, 99, 1, 'a'},
		"too many exclusions": append(appendEntry([]byte{recUpdate, opEpoch}, testEntry(1)), 3, 1, 'a'),
		"epoch, no entry":     {recUpdate, opEpoch},
		"empty path":          {recUpdate, opDelete, 0},
		"long path":           {recUpdate, opDelete, 5, 'a'},
		"unknown method":      appendOp([]byte{recUpdate}, dictOp{kind: opPut, path: "a", e: entry{Method: 99}}),
		"no method":           appendOp([]byte{recUpdate}, dictOp{kind: opPut, path: "a"}),
		"no op":               {recUpdate},
		"empty":               {},
	}
	for name, b := range bad {
		if _, _, err := decodeRecord(b, nil); err == nil {
			t.Errorf("%s: decodeRecord accepted %x", name, b)
		}
	}
}

// craftLog writes records as a log and points the marker at it.
func craftLog(t testing.TB, fs vfs.FS, records ...[]byte) string {
	t.Helper()
	path := testDictDir + "/TDE-DICT-000001"
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w := record.NewWriter(f)
	for _, r := range records {
		if _, err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	setDictMarker(t, fs, "TDE-DICT-000001")
	return path
}

func setDictMarker(t testing.TB, fs vfs.FS, name string) {
	t.Helper()
	m, _, err := atomicfs.LocateMarker(fs, testDictDir, dictMarkerName)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Move(name); err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func wantCorrupt(t testing.TB, err error, path string, off int64) {
	t.Helper()
	if !errors.Is(err, ErrCorruptDictionary) {
		t.Fatalf("error %v, want ErrCorruptDictionary", err)
	}
	var ce *CorruptDictionaryError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v, want *CorruptDictionaryError", err, err)
	}
	if ce.Path != path || ce.Offset != off {
		t.Fatalf("error names %s at %d, want %s at %d: %v", ce.Path, ce.Offset, path, off, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
}

func TestDictCorruptHeaderAndRecords(t *testing.T) {
	header := appendHeader(nil, dictHeader{})
	put := appendOp([]byte{recUpdate}, dictOp{kind: opPut, path: "a", e: testEntry(1)})
	hdrEnd := int64(chunkHeaderSize + len(header))
	version2 := append([]byte(dictMagic), 2, 0, 0)
	for _, tc := range []struct {
		name    string
		records [][]byte
		off     int64
		reason  string
	}{
		{"bad magic", [][]byte{append([]byte("TDEDICTX"), header[8:]...), put}, 0, "magic"},
		{"pebble manifest", [][]byte{{1, 2, 3, 4}}, 0, "magic"},
		{"unsupported version", [][]byte{version2, put}, 0, "version 2"},
		{"unknown flags", [][]byte{append([]byte(dictMagic), 1, 4, 0)}, 0, "flags"},
		{"no header", nil, 0, "no header"},
		{"unknown record type", [][]byte{header, put, {7, opDelete, 1, 'a'}, put}, hdrEnd + int64(chunkHeaderSize+len(put)), "record type 7"},
		{"unknown op type", [][]byte{header, {recUpdate, 99, 1, 'a'}, put}, hdrEnd, "op type 99"},
		// A record that passes its checksum but is cut short was written
		// that way: corrupt even at the end of the log.
		{"bad last record", [][]byte{header, put, put[:len(put)-3]}, hdrEnd + int64(chunkHeaderSize+len(put)), "IV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newDictStore(t)
			path := craftLog(t, fs, tc.records...)
			before := treeBytes(t, fs, testDictDir)
			_, err := readDictionary(fs, testDictDir, quietOpts())
			wantCorrupt(t, err, path, tc.off)
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			if !maps.Equal(before, treeBytes(t, fs, testDictDir)) {
				t.Error("a failed open changed the directory")
			}
		})
	}

	t.Run("missing log", func(t *testing.T) {
		fs := newDictStore(t)
		setDictMarker(t, fs, "TDE-DICT-000007")
		_, err := readDictionary(fs, testDictDir, quietOpts())
		wantCorrupt(t, err, testDictDir+"/TDE-DICT-000007", -1)
	})
}
