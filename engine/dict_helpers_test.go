package engine

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// Helpers of the dictionary tests.

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
	f.Write([]byte("data of " + rel)) // distinct: an open compares files that survive a rename under both names
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

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameOp compares ops field by field (names makes dictOp incomparable).
func sameOp(a, b dictOp) bool {
	return a.kind == b.kind && a.path == b.path && a.to == b.to && a.e == b.e && slices.Equal(a.names, b.names)
}
