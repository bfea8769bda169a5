package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

const testDictDir = "/s"

// testEntry returns a distinct entry for i: method and key vary with i.
func testEntry(i int) entry {
	e := entry{Method: keys.MethodAES128CTR + keys.Method(i%4), KeyID: uint64(100 + i%7)}
	for j := range e.IV {
		e.IV[j] = byte(i*31 + j)
	}
	return e
}

// syncLogBuffer is a concurrency-safe log sink for assertions on log lines.
type syncLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func quietOpts() dictOptions {
	return dictOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func mustRead(t testing.TB, fs vfs.FS, opts dictOptions) *dictionary {
	t.Helper()
	d, err := readDictionary(fs, testDictDir, opts)
	if err != nil {
		t.Fatalf("readDictionary: %v", err)
	}
	return d
}

// mustOpenDict reads and starts the dictionary in testDictDir.
func mustOpenDict(t testing.TB, fs vfs.FS, opts dictOptions) *dictionary {
	t.Helper()
	d := mustRead(t, fs, opts)
	if err := d.start(false); err != nil {
		t.Fatalf("start: %v", err)
	}
	return d
}

func mustCloseDict(t testing.TB, d *dictionary) {
	t.Helper()
	if err := d.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// newDictStore returns a MemFS holding the store directory.
func newDictStore(t testing.TB) *vfs.MemFS {
	t.Helper()
	fs := vfs.NewMem()
	if err := fs.MkdirAll(testDictDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return fs
}

// touchRel creates the file rel names, as the engine does after put.
func touchRel(t testing.TB, fs vfs.FS, rel string) {
	t.Helper()
	full := fs.PathJoin(testDictDir, rel)
	if err := fs.MkdirAll(fs.PathDir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(full, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("data"))
	f.Close()
}

// putFile is put then create, the engine's order.
func putFile(t testing.TB, fs vfs.FS, d *dictionary, rel string, e entry) {
	t.Helper()
	if err := d.put(rel, e); err != nil {
		t.Fatalf("put %s: %v", rel, err)
	}
	touchRel(t, fs, rel)
}

func dictContents(d *dictionary) map[string]entry {
	m := make(map[string]entry)
	d.each(func(rel string, e entry) { m[rel] = e })
	return m
}

func checkContents(t testing.TB, d *dictionary, want map[string]entry) {
	t.Helper()
	got := dictContents(d)
	if !maps.Equal(got, want) {
		t.Fatalf("dictionary holds\n%v\nwant\n%v", got, want)
	}
	if d.len() != len(want) {
		t.Fatalf("len() = %d, want %d", d.len(), len(want))
	}
	for rel, e := range want {
		if g, ok := d.get(rel); !ok || g != e {
			t.Fatalf("get(%s) = %v, %v; want %v", rel, g, ok, e)
		}
	}
	used := make(map[uint64]bool)
	// An entry a pending move replaced keeps its key: an open may undo
	// the move and give the entry back.
	d.mu.RLock()
	for _, m := range d.state.pending {
		if m.hadFrom {
			used[m.prevFrom.KeyID] = true
		}
		if m.hadTo {
			used[m.prevTo.KeyID] = true
		}
	}
	if m := d.state.dirMove; m != nil {
		for _, e := range m.prevTo {
			used[e.KeyID] = true
		}
	}
	d.mu.RUnlock()
	enc := 0
	for _, e := range want {
		used[e.KeyID] = true
		if e.Method != keys.MethodPlaintext {
			enc++
		}
	}
	for id := range uint64(120) {
		if d.keyInUse(id) != used[id] {
			t.Fatalf("keyInUse(%d) = %v, want %v", id, !used[id], used[id])
		}
	}
	if d.encrypted() != enc {
		t.Fatalf("encrypted() = %d, want %d", d.encrypted(), enc)
	}
}

func listDictLogs(t testing.TB, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List(testDictDir)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, n := range names {
		if strings.HasPrefix(n, dictLogPrefix) {
			logs = append(logs, n)
		}
	}
	slices.Sort(logs)
	return logs
}

func readBytes(t testing.TB, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeBytes(t testing.TB, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	// A copy: MemFS scrambles what it was given in race builds.
	if _, err := f.Write(slices.Clone(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// treeBytes is every file of the FS and its contents, to check that nothing
// was written.
func treeBytes(t testing.TB, fs vfs.FS, dir string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p := fs.PathJoin(dir, n)
		if st, err := fs.Stat(p); err == nil && st.IsDir() {
			maps.Copy(m, treeBytes(t, fs, p))
			continue
		}
		m[p] = string(readBytes(t, fs, p))
	}
	return m
}

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

// faultFS fails operations of the given kinds once armed.
type faultFS struct {
	armed bool
	kinds []errorfs.OpKind
}

func (f *faultFS) MaybeError(op errorfs.Op) error {
	if f.armed && slices.Contains(f.kinds, op.Kind) {
		return errorfs.ErrInjected
	}
	return nil
}

func (f *faultFS) String() string { return "faultFS" }

// TestDictFailedAppend: a failed write or sync fails the op, names the log,
// leaves the map as it was, and fails every later write with the first
// error; reads keep working; a reopen reads every op that succeeded.
func TestDictFailedAppend(t *testing.T) {
	for _, kind := range []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileSync} {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			mem := newDictStore(t)
			inj := &faultFS{kinds: []errorfs.OpKind{kind}}
			d := mustOpenDict(t, errorfs.Wrap(mem, inj), quietOpts())
			want := make(map[string]entry)
			for i := range 3 {
				putFile(t, mem, d, shortName(i), testEntry(i))
				want[shortName(i)] = testEntry(i)
			}
			size := d.size()
			inj.armed = true
			err := d.put(shortName(0), testEntry(50))
			if !isInjected(err) || !strings.Contains(err.Error(), d.logPath()) {
				t.Fatalf("put with %v failing: %v", kind, err)
			}
			checkContents(t, d, want)
			if d.size() != size {
				t.Errorf("size() = %d after a failed append, was %d", d.size(), size)
			}
			inj.armed = false
			for _, err := range []error{
				d.put("x", testEntry(1)),
				d.move(shortName(1), "y", testEntry(1)),
				d.remove(shortName(2)),
				d.removePrefix("wal"),
			} {
				if !isInjected(err) {
					t.Fatalf("a write after a failed append: %v, want the first error", err)
				}
			}
			checkContents(t, d, want)
			mustCloseDict(t, d)
			d = mustOpenDict(t, mem, quietOpts())
			// The failed put may or may not have reached the disk; its
			// file exists (an overwrite), so either entry is possible.
			if e, _ := d.get(shortName(0)); e == testEntry(50) {
				want[shortName(0)] = testEntry(50)
			}
			checkContents(t, d, want)
			mustCloseDict(t, d)
		})
	}
}

// engineSim runs dictionary ops with the file operations the engine does
// around them, on a model of what the dictionary noErr hold.
type engineSim struct {
	fs    vfs.FS // files live here
	d     *dictionary
	want  map[string]entry
	rng   *rand.Rand
	next  int
	dirs  []string // subdirectories files are created in ("" is the store dir)
	moved string   // source of the step's move, "" if none
}

func (s *engineSim) full(rel string) string { return s.fs.PathJoin(testDictDir, rel) }

// live lists the files with entries, in a stable order for the seed.
func (s *engineSim) live() []string {
	return slices.Sorted(maps.Keys(s.want))
}

func (s *engineSim) newName() string {
	s.next++
	dir := s.dirs[s.rng.IntN(len(s.dirs))]
	if dir == "" {
		return fmt.Sprintf("%06d.sst", s.next)
	}
	return fmt.Sprintf("%s/%06d.log", dir, s.next)
}

// fill writes a little data to a file just opened for writing, syncs and
// closes it.
func (s *engineSim) fill(f vfs.File, err error) error {
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte("data")); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func (s *engineSim) syncDir(rel string) error {
	return syncDir(s.fs, s.fs.PathDir(s.full(rel)))
}

// step runs one random op. It returns the dictionary's error, if any;
// file errors are fatal.
func (s *engineSim) step(t testing.TB) error {
	t.Helper()
	s.moved = ""
	live := s.live()
	r := s.rng.IntN(100)
	switch {
	case r < 40 || len(live) < 3:
		rel := s.newName()
		e := testEntry(s.rng.IntN(1000))
		if err := s.d.put(rel, e); err != nil {
			return err
		}
		s.want[rel] = e
		noErr(t, s.fill(s.fs.Create(s.full(rel), vfs.WriteCategoryUnspecified)))
		noErr(t, s.syncDir(rel))
	case r < 55:
		s.next++
		from := live[s.rng.IntN(len(live))]
		to := sibling(from, fmt.Sprintf("%06d.renamed", s.next))
		s.moved = from
		e := s.want[from]
		if err := s.d.move(from, to, e); err != nil {
			return err
		}
		delete(s.want, from)
		s.want[to] = e
		noErr(t, s.fs.Rename(s.full(from), s.full(to)))
		noErr(t, s.syncDir(to))
	case r < 65:
		s.next++
		from := live[s.rng.IntN(len(live))]
		to := sibling(from, fmt.Sprintf("%06d.reused", s.next))
		s.moved = from
		e := testEntry(s.rng.IntN(1000))
		if err := s.d.move(from, to, e); err != nil {
			return err
		}
		delete(s.want, from)
		s.want[to] = e
		noErr(t, s.fill(s.fs.ReuseForWrite(s.full(from), s.full(to), vfs.WriteCategoryUnspecified)))
		noErr(t, s.syncDir(to))
	case r < 97:
		rel := live[s.rng.IntN(len(live))]
		noErr(t, s.fs.Remove(s.full(rel)))
		delete(s.want, rel)
		return s.d.remove(rel)
	default:
		if len(s.dirs) < 2 {
			return nil
		}
		i := 1 + s.rng.IntN(len(s.dirs)-1)
		dir := s.dirs[i]
		noErr(t, s.fs.RemoveAll(s.full(dir)))
		for rel := range s.want {
			if strings.HasPrefix(rel, dir+"/") {
				delete(s.want, rel)
			}
		}
		s.next++
		fresh := fmt.Sprintf("wal%d", s.next)
		if strings.HasPrefix(dir, "../") {
			fresh = "../" + fresh
		}
		s.dirs[i] = fresh
		noErr(t, s.fs.MkdirAll(s.full(fresh), 0o755))
		noErr(t, syncDir(s.fs, s.fs.PathDir(s.full(fresh))))
		return s.d.removePrefix(dir)
	}
	return nil
}

// sibling names a file in rel's directory.
func sibling(rel, name string) string {
	return rel[:strings.LastIndexByte(rel, '/')+1] + name
}

// isInjected reports whether err is errorfs's isInjected error. (errors.Is
// does not match it once the injector has a predicate.)
func isInjected(err error) bool {
	var le errorfs.LabelledError
	return errors.As(err, &le) && le.Label == errorfs.ErrInjected.Label
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newEngineSim(t testing.TB, fs vfs.FS, seed uint64) *engineSim {
	s := &engineSim{fs: fs, want: make(map[string]entry), rng: rand.New(rand.NewPCG(seed, 1)), dirs: []string{"", "wal0", "../other0"}}
	for _, dir := range s.dirs {
		noErr(t, fs.MkdirAll(s.full(dir), 0o755))
	}
	noErr(t, syncDir(fs, "/"))
	noErr(t, syncDir(fs, testDictDir))
	return s
}

// TestDictFaultSweep fails the dictionary's n-th write operation (log
// writes and syncs, log creation, directory syncs, marker moves), for every
// n over a run that rewrites the log several times. Each op either succeeds
// or fails with the isInjected error; after a failed append every later write
// fails; the map always matches what succeeded; and a reopen on the
// underlying FS reads exactly that.
func TestDictFaultSweep(t *testing.T) {
	const steps = 60
	var rewriteFailed, markerFailed int
	for n := int32(0); ; n++ {
		mem := vfs.NewMem()
		noErr(t, mem.MkdirAll(testDictDir, 0o755))
		fired := false
		idx := errorfs.ErrInjected.If(errorfs.And(errorfs.Writes, errorfs.OnIndex(n)))
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			err := idx.MaybeError(op)
			fired = fired || err != nil
			return err
		})
		efs := errorfs.Wrap(mem, inj)
		var logs syncLogBuffer
		opts := dictOptions{RewriteThreshold: 6, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		d := mustRead(t, efs, opts)
		if err := d.start(false); err != nil {
			if !isInjected(err) {
				t.Fatalf("n=%d: start: %v", n, err)
			}
			d.close()
			d = mustOpenDict(t, mem, quietOpts())
			checkContents(t, d, map[string]entry{})
			d.close()
			continue
		}
		sim := newEngineSim(t, mem, 1)
		sim.d = d
		failed := false
		for range steps {
			before := maps.Clone(sim.want)
			err := sim.step(t)
			if err != nil {
				if !isInjected(err) {
					t.Fatalf("n=%d: %v", n, err)
				}
				failed = true
				// The engine's order: a failed put creates nothing, a
				// failed move renames nothing; removals happened first.
				sim.want = before
				for rel := range before {
					if _, err := mem.Stat(sim.full(rel)); err != nil {
						delete(sim.want, rel)
					}
				}
			} else if failed {
				t.Fatalf("n=%d: a write succeeded after a failed one", n)
			}
			if !maps.Equal(dictContents(d), sim.want) {
				// A failed remove's file is gone but its entry stays
				// until the reopen: compare on files that exist.
				got := dictContents(d)
				for rel := range got {
					if _, err := mem.Stat(sim.full(rel)); err != nil {
						delete(got, rel)
					}
				}
				if !maps.Equal(got, sim.want) {
					t.Fatalf("n=%d: map %v, want %v", n, got, sim.want)
				}
			}
		}
		d.close()
		if !fired {
			// The sweep noErr have failed a rewrite after its append (the
			// old log stays current) and a marker move (writes stop).
			if n < 100 || rewriteFailed == 0 || markerFailed == 0 {
				t.Fatalf("%d write ops in %d steps; %d failed rewrites, %d failed marker moves", n, steps, rewriteFailed, markerFailed)
			}
			return
		}
		if strings.Contains(logs.String(), "rewriting the file dictionary failed") {
			rewriteFailed++
		}
		if d.err != nil && strings.Contains(d.err.Error(), "switching") {
			markerFailed++
		}
		d = mustOpenDict(t, mem, quietOpts())
		checkContents(t, d, withMissingDirs(mem, dictContents(d), sim.want))
		d.close()
	}
}

// withMissingDirs returns want plus the entries of got whose directory is
// gone: a RemoveAll whose record failed or was lost leaves them, and an
// open keeps them since it cannot tell a removed directory from an
// unmounted one.
func withMissingDirs(fs vfs.FS, got, want map[string]entry) map[string]entry {
	out := maps.Clone(want)
	for rel, e := range got {
		if _, err := fs.Stat(fs.PathJoin(testDictDir, splitRel(rel))); err != nil {
			out[rel] = e
		}
	}
	return out
}

// TestDictMarkerSyncFails: atomicfs panics when syncing the directory
// fails in a marker move. The rewrite's append still succeeds, the process
// survives, later writes fail, and a reopen reads everything.
func TestDictMarkerSyncFails(t *testing.T) {
	mem := newDictStore(t)
	dirSyncs := 0
	efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileSync && op.Path == testDictDir {
			// Syncs 1 and 2 are the first log's creation, 3 the
			// rewrite's own, 4 the rewrite's marker move.
			if dirSyncs++; dirSyncs == 4 {
				return errorfs.ErrInjected
			}
		}
		return nil
	}))
	d := mustOpenDict(t, efs, dictOptions{RewriteThreshold: 4, Logger: quietOpts().Logger})
	want := make(map[string]entry)
	for i := 0; dirSyncs < 4; i++ {
		if i > 10 {
			t.Fatal("no rewrite")
		}
		putFile(t, mem, d, shortName(i%2), testEntry(i))
		want[shortName(i%2)] = testEntry(i)
	}
	if err := d.put("x", testEntry(1)); !isInjected(err) {
		t.Fatalf("put after a failed marker move: %v", err)
	}
	checkContents(t, d, want)
	d.close()
	d = mustOpenDict(t, mem, quietOpts())
	checkContents(t, d, want)
	d.close()
}

// TestDictReadersDoNotWait: while a write waits in fsync, get, keyInUse,
// len, each, size and logPath return.
func TestDictReadersDoNotWait(t *testing.T) {
	mem := newDictStore(t)
	var block sync.Once
	inSync, release := make(chan struct{}), make(chan struct{})
	armed := false
	efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed && op.Kind == errorfs.OpFileSync && strings.Contains(op.Path, dictLogPrefix) {
			block.Do(func() { close(inSync); <-release })
		}
		return nil
	}))
	d := mustOpenDict(t, efs, quietOpts())
	putFile(t, mem, d, "a", testEntry(1))
	armed = true
	done := make(chan error)
	go func() { done <- d.put("b", testEntry(2)) }()
	<-inSync
	readers := make(chan struct{})
	go func() {
		d.get("a")
		d.keyInUse(101)
		d.len()
		d.each(func(string, entry) {})
		d.size()
		d.logPath()
		d.strict()
		close(readers)
	}()
	select {
	case <-readers:
	case <-time.After(10 * time.Second):
		t.Fatal("readers blocked behind a write's fsync")
	}
	if _, ok := d.get("b"); ok {
		t.Fatal("an entry is visible before its record is synced")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := d.get("b"); !ok {
		t.Fatal("entry missing after put returned")
	}
	d.close()
}

// TestDictConcurrent runs writers and readers together (for -race) and
// checks the result.
func TestDictConcurrent(t *testing.T) {
	fs := newDictStore(t)
	d := mustOpenDict(t, fs, dictOptions{RewriteThreshold: 16, Logger: quietOpts().Logger})
	var wg sync.WaitGroup
	const writers, per = 4, 60
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				rel := fmt.Sprintf("w%d/%03d", w, i)
				if err := d.put(rel, testEntry(i)); err != nil {
					t.Error(err)
					return
				}
				touchRel(t, fs, rel)
				if i%3 == 0 {
					fs.Remove(fs.PathJoin(testDictDir, rel))
					if err := d.remove(rel); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.get("w0/001")
			d.keyInUse(101)
			n := 0
			d.each(func(string, entry) { n++ })
			_ = d.len() + d.encrypted() + int(d.size()) + len(d.logPath())
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	want := make(map[string]entry)
	for w := range writers {
		for i := range per {
			if i%3 != 0 {
				want[fmt.Sprintf("w%d/%03d", w, i)] = testEntry(i)
			}
		}
	}
	checkContents(t, d, want)
	mustCloseDict(t, d)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, want)
	mustCloseDict(t, d)
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

// sameOp compares ops field by field (names makes dictOp incomparable).
func sameOp(a, b dictOp) bool {
	return a.kind == b.kind && a.path == b.path && a.to == b.to && a.e == b.e && slices.Equal(a.names, b.names)
}
