package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// smallConfig is a configuration small enough for tests: 4000 keys of
// 16+100 bytes (464 KB of user data) and a 32 KiB block cache.
func smallConfig() Config {
	c := Short()
	c.Keys = 4000
	c.ValueSize = 100
	c.CacheSize = 32 << 10
	c.Duration = 50 * time.Millisecond
	c.ScanLength = 20
	c.Rounds, c.WorkloadRounds = 1, nil // the tests set the rounds they need
	c.Builds = 1                        // and the builds
	return c
}

// runOn runs one slice of workload w on a fresh store of method m
// (preloaded with c.Keys keys unless w is a fill), and hands the open store
// to check before closing it. A fill writes c.Keys keys; the other
// workloads run 2000 operations.
func runOn(t *testing.T, c Config, w Workload, m Method, check func(*store, Run)) Run {
	t.Helper()
	c, err := c.normalized()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.openStore(filepath.Join(t.TempDir(), "store"), m, w)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.close(); err != nil {
			t.Error(err)
		}
	}()
	n := 2000
	if w.preloaded() {
		if err := c.preload(context.Background(), s, newValuePool(1, c.ValueSize), 1); err != nil {
			t.Fatal(err)
		}
	} else {
		n = c.Keys
	}
	run, err := c.runSlice(context.Background(), w, s, newValuePool(7, c.ValueSize), 7, n)
	if err != nil {
		t.Fatalf("%s on %v: %v", w, m, err)
	}
	if run.Ops <= 0 || run.Wall <= 0 {
		t.Fatalf("%s on %v: %d ops in %v", w, m, run.Ops, run.Wall)
	}
	if check != nil {
		check(s, run)
	}
	return run
}

// keysIn lists every key in the store.
func keysIn(t *testing.T, s *store) [][]byte {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, slices.Clone(it.Key()))
	}
	return out
}

// wantAllKeys checks the store holds exactly keys 0…n-1.
func wantAllKeys(t *testing.T, s *store, n int) {
	t.Helper()
	got := keysIn(t, s)
	if len(got) != n {
		t.Fatalf("store holds %d keys, want exactly %d", len(got), n)
	}
	for i, k := range got {
		if want := appendKey(nil, i); !bytes.Equal(k, want) {
			t.Fatalf("key %d is %q, want %q", i, k, want)
		}
	}
}

func TestFills(t *testing.T) {
	c := smallConfig()
	for _, w := range []Workload{FillSeq, FillRandom} {
		for _, m := range []Method{MethodPlaintext, MethodAES128CTR} {
			runOn(t, c, w, m, func(s *store, r Run) {
				wantAllKeys(t, s, c.Keys)
				if r.Ops != int64(c.Keys) || r.Bytes != int64(c.Keys)*(keySize+int64(c.ValueSize)) {
					t.Errorf("%s %v: %d ops, %d bytes; want %d and %d", w, m, r.Ops, r.Bytes, c.Keys, int64(c.Keys)*(keySize+int64(c.ValueSize)))
				}
				// Writes end flushed: the data is in tables.
				if r.TableBytes < int64(c.Keys)*int64(c.ValueSize)/3 {
					t.Errorf("%s %v: %d bytes in tables after the run", w, m, r.TableBytes)
				}
				if m != MethodPlaintext {
					// The encrypted store really went through the engine.
					st := s.efs.Status()
					if st.Method != m.tde() || st.Encrypted[m.tde()] < uint64(r.TableBytes) || st.Plaintext.Files != 0 {
						t.Errorf("%s %v: engine status %+v: want every file encrypted", w, m, st)
					}
				}
			})
		}
	}
}

// TestFillRandomOrder: fillrandom writes every key once, in an order far
// from ascending, and the same order for every method of a round (the
// seed depends on the round and workload only).
func TestFillRandomOrder(t *testing.T) {
	const n = 10000
	order := shuffledKeys(n, 3)
	sorted := slices.Clone(order)
	slices.Sort(sorted)
	for i, k := range sorted {
		if k != uint32(i) {
			t.Fatalf("not a permutation: sorted[%d] = %d", i, k)
		}
	}
	ascending := 0
	for i := 1; i < n; i++ {
		if order[i] > order[i-1] {
			ascending++
		}
	}
	if ascending < n*4/10 || ascending > n*6/10 {
		t.Errorf("%d of %d steps ascend: not a random order", ascending, n-1)
	}
	if !slices.Equal(order, shuffledKeys(n, 3)) || slices.Equal(order, shuffledKeys(n, 4)) {
		t.Errorf("the order should follow the seed")
	}
	st := Step{Round: 2, Workload: FillRandom}
	a, b := st, st
	a.Method, b.Method = MethodPlaintext, MethodSM4CTR
	if runSeed(9, a) != runSeed(9, b) || runSeed(9, a) == runSeed(9, Step{Round: 3, Workload: FillRandom}) {
		t.Errorf("run seeds: same round and workload must share one, other rounds not")
	}
}

func TestReadRandomReadsFiles(t *testing.T) {
	c := smallConfig()
	for _, m := range []Method{MethodPlaintext, MethodSM4CTR} {
		runOn(t, c, ReadRandom, m, func(s *store, r Run) {
			if r.Misses != 0 {
				t.Errorf("%v: %d of %d reads found no key", m, r.Misses, r.Ops)
			}
			if r.Bytes != r.Ops*(keySize+int64(c.ValueSize)) {
				t.Errorf("%v: %d bytes for %d reads", m, r.Bytes, r.Ops)
			}
			// The data is much larger than the cache, and most reads miss
			// it: they read a block from a file (and decrypt it).
			if r.TableBytes < 8*c.CacheSize {
				t.Errorf("%v: %d bytes of tables for a %d-byte cache", m, r.TableBytes, c.CacheSize)
			}
			if r.CacheMisses < r.Ops/2 {
				t.Errorf("%v: %d block cache misses in %d reads: reads are served from the cache", m, r.CacheMisses, r.Ops)
			}
			wantAllKeys(t, s, c.Keys)
			if m != MethodPlaintext && s.efs.Status().Decrypted[m.tde()] == 0 {
				t.Errorf("%v: nothing decrypted", m)
			}
		})
	}
}

func TestScanAndMixed(t *testing.T) {
	c := smallConfig()
	runOn(t, c, Scan, MethodAES256CTR, func(s *store, r Run) {
		if r.Misses != 0 || r.Bytes != r.Ops*int64(c.ScanLength)*(keySize+int64(c.ValueSize)) {
			t.Errorf("scan: %d ops, %d bytes, %d empty: want %d entries per scan", r.Ops, r.Bytes, r.Misses, c.ScanLength)
		}
	})
	for _, w := range []Workload{Overwrite, Mixed} {
		runOn(t, c, w, MethodAES128CTR, func(s *store, r Run) {
			// Overwrites replace values of existing keys: still exactly
			// Keys keys.
			wantAllKeys(t, s, c.Keys)
			if r.Misses != 0 {
				t.Errorf("%s: %d reads found no key", w, r.Misses)
			}
		})
	}
	// Mixed at 100% reads goes to files on nearly every read; at 0% it
	// only writes. Writes still cost misses: the flush that ends a write
	// workload triggers a compaction that reads the store's ~200 blocks
	// once, however few the writes (a fixed ~200 here, found in 1,400 ops
	// under -race on a loaded machine: 11% of them). So the check compares
	// misses per op, over runs long enough that the fixed part is small.
	c.Duration = 200 * time.Millisecond
	c.ReadPercent = 100
	ro := runOn(t, c, Mixed, MethodPlaintext, nil)
	c.ReadPercent = 0
	wo := runOn(t, c, Mixed, MethodPlaintext, nil)
	readRate := float64(ro.CacheMisses) / float64(max(ro.Ops, 1))
	writeRate := float64(wo.CacheMisses) / float64(max(wo.Ops, 1))
	if readRate < 0.5 || writeRate > readRate/4 {
		t.Errorf("mixed: all reads gave %d cache misses in %d ops, all writes %d in %d ops: want most reads to miss, and writes to miss under a quarter as often",
			ro.CacheMisses, ro.Ops, wo.CacheMisses, wo.Ops)
	}
}

// TestBenchmarkEndToEnd runs a tiny benchmark through the public entry
// point: every step runs, overheads pair up, and the stores are removed.
func TestBenchmarkEndToEnd(t *testing.T) {
	c := smallConfig()
	c.Rounds = 2
	c.Workloads = []Workload{FillSeq, ReadRandom}
	c.Methods = []Method{MethodAES128CTR}
	c.Dir = t.TempDir()
	var calls []Progress
	c.Progress = func(p Progress) { calls = append(calls, p) }
	r, err := Benchmark(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Runs) != 2*2*2 || len(r.Overheads) != 2*2 || len(r.Summaries) != 2*2 {
		t.Fatalf("%d runs, %d overheads, %d summaries; want 8, 4, 4", len(r.Runs), len(r.Overheads), len(r.Summaries))
	}
	if len(calls) != 9 || calls[0].Done != 0 || calls[0].Total != 8 || calls[8].Done != 8 {
		t.Errorf("progress calls %+v", calls)
	}
	if r.Settings.Seed == 0 || r.Settings.Rounds != 2 || r.Env.CTRBackend == "" || r.Settings.FS != "disk" {
		t.Errorf("settings %+v env %+v", r.Settings, r.Env)
	}
	// Every slice of a workload runs the calibrated number of operations,
	// for every method alike, and the number is in the benchmark file.
	for _, run := range r.Runs {
		if n := r.Settings.SliceOps[run.Workload]; n < 64 || run.Ops != int64(n) {
			t.Errorf("%s %v round %d: %d ops, calibrated %d", run.Workload, run.Method, run.Round, run.Ops, n)
		}
	}
	var buf bytes.Buffer
	if err := r.WriteBenchfmt(&buf); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("slice-ops: fillseq=%d,readrandom=%d\n", r.Settings.SliceOps[FillSeq], r.Settings.SliceOps[ReadRandom]); !strings.Contains(buf.String(), want) {
		t.Errorf("benchmark file lacks %q:\n%.600s", want, buf.String())
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir, "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestMemFS: with MemFS the stores live in memory; nothing reaches the
// directory on disk, and the workloads run as on disk.
func TestMemFS(t *testing.T) {
	c := smallConfig()
	c.MemFS = true
	runOn(t, c, ReadRandom, MethodAES128CTR, func(s *store, r Run) {
		if s.fs == vfs.Default {
			t.Errorf("MemFS: the store is on the disk")
		}
		if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
			t.Errorf("MemFS: %s exists on disk (%v)", s.dir, err)
		}
		if r.Misses != 0 || r.CacheMisses < r.Ops/2 || s.efs.Status().Decrypted[MethodAES128CTR.tde()] == 0 {
			t.Errorf("MemFS: %d misses, %d cache misses in %d reads", r.Misses, r.CacheMisses, r.Ops)
		}
	})
}

// TestGocryptfsSkipped: without the gocryptfs binary the method is left
// out with one line saying why, and the rest runs.
func TestGocryptfsSkipped(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	c := smallConfig()
	c.Methods = []Method{MethodGocryptfs, MethodAES128CTR}
	r, logged := benchmarkLogged(t, c, ReadRandom)
	if len(logged) != 1 || !strings.HasPrefix(logged[0], "gocryptfs skipped: gocryptfs is not installed") {
		t.Errorf("logged %q", logged)
	}
	if !slices.Equal(r.Settings.Notes, logged) || slices.Contains(r.Settings.Methods, "gocryptfs") {
		t.Errorf("settings %+v", r.Settings)
	}
	for _, run := range r.Runs {
		if run.Method == MethodGocryptfs {
			t.Fatalf("a gocryptfs run: %+v", run)
		}
	}
}

// TestGocryptfs runs the gocryptfs method where it can mount: its stores
// are on the FUSE mount, its CPU counts gocryptfs's own, and the mount is
// gone afterwards.
func TestGocryptfs(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts gocryptfs; the non-short suite runs it")
	}
	if _, err := exec.LookPath("gocryptfs"); err != nil {
		t.Skip("gocryptfs is not installed")
	}
	c := smallConfig()
	c.Methods = []Method{MethodGocryptfs}
	c.Rounds = 2
	c.Dir = t.TempDir()
	r, logged := benchmarkLogged(t, c, FillRandom)
	if len(logged) != 1 || strings.Contains(logged[0], "skipped") {
		t.Skipf("gocryptfs cannot mount here: %q", logged)
	}
	n := 0
	for _, run := range r.Runs {
		if run.Method == MethodGocryptfs {
			n++
			if run.Helper <= 0 || run.Ops == 0 {
				t.Errorf("round %d: %d ops, gocryptfs CPU %v: want its CPU counted", run.Round, run.Ops, run.Helper)
			}
		}
	}
	if n != 2 || len(r.Overheads) != 2 {
		t.Errorf("%d gocryptfs runs, %d overheads; want 2 and 2", n, len(r.Overheads))
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), c.Dir) {
		t.Errorf("still mounted under %s", c.Dir)
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir, "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// benchmarkLogged runs workload w of c in c.Dir (a temporary directory if
// unset) and returns the report and the lines Benchmark logged.
func benchmarkLogged(t *testing.T, c Config, w Workload) (*Report, []string) {
	t.Helper()
	c.Workloads = []Workload{w}
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	var logged []string
	c.Log = func(s string) { logged = append(logged, s) }
	r, err := Benchmark(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r, logged
}

// TestReadsStartCompacted: a workload on the preloaded stores starts on
// stores compacted into their last level, after the preload and after a
// workload that wrote, so every method's store holds the same tables and
// its reads touch the same blocks as plaintext's.
func TestReadsStartCompacted(t *testing.T) {
	c := smallConfig()
	c.Methods = []Method{MethodAES128CTR, MethodSM4CTR}
	c.Dir = t.TempDir()
	c.Seed = 11
	c, err := c.normalized()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{c: &c, root: c.Dir, loaded: map[Method]*store{}}
	defer func() {
		if err := b.close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	// Stores opened as for a fill have no automatic compactions, so every
	// flush leaves a table in L0 until the bench compacts: the test does
	// not depend on when Pebble would have.
	for _, m := range c.Methods {
		s, err := b.open(m, FillSeq)
		if err != nil {
			t.Fatal(err)
		}
		b.loaded[m] = s
		if err := c.preload(ctx, s, newValuePool(c.Seed, c.ValueSize), c.Seed); err != nil {
			t.Fatal(err)
		}
	}
	upper := func(s *store) (n int64) {
		lv := s.db.Metrics().Levels
		for _, l := range lv[:len(lv)-1] {
			n += l.TablesCount
		}
		return n
	}
	wantCompacted := func(w Workload, want bool) {
		t.Helper()
		for _, m := range c.Methods {
			if n := upper(b.loaded[m]); (n == 0) != want {
				t.Errorf("%s starts with %d tables of %v above the last level", w, n, m)
			}
		}
	}
	wantCompacted(FillSeq, false) // the preload's flush: in L0
	if err := b.startWorkload(ctx, ReadRandom); err != nil {
		t.Fatal(err)
	}
	wantCompacted(ReadRandom, true)
	lookups := map[Method]int64{}
	for _, m := range c.Methods {
		run, err := b.runStep(ctx, Step{Round: 1, Workload: ReadRandom, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		lookups[m] = run.CacheHits + run.CacheMisses
	}
	for _, m := range c.Methods {
		if lookups[m] != lookups[MethodPlaintext] {
			t.Errorf("the same reads looked up %d blocks on %v, %d on plaintext", lookups[m], m, lookups[MethodPlaintext])
		}
	}
	// Overwrite's slices flush into L0; the workload after it compacts.
	if err := b.startWorkload(ctx, Overwrite); err != nil {
		t.Fatal(err)
	}
	wantCompacted(Overwrite, false)
	if err := b.startWorkload(ctx, Scan); err != nil {
		t.Fatal(err)
	}
	wantCompacted(Scan, true)
}

// TestFillPastL0StopThreshold: a fill's store has no automatic
// compactions, so every flush adds a sublevel to L0; a slice that flushes
// more memtables than Pebble's L0 stop-writes threshold (12) must still
// finish, as a long --duration or a fast machine makes it do. It used to
// wait forever for a compaction that never came.
func TestFillPastL0StopThreshold(t *testing.T) {
	c := smallConfig()
	c.MemFS = true
	c.ValueSize = 1000
	c.Keys = 20 * memTableSize / (keySize + c.ValueSize) // 20 memtables
	done := make(chan struct{})
	go func() {
		defer close(done)
		runOn(t, c, FillRandom, MethodAES128CTR, func(s *store, r Run) {
			if f := s.db.Metrics().Flush.Count; f <= 12 {
				t.Errorf("%d flushes, want more than the stop threshold's 12", f)
			}
			wantAllKeys(t, s, c.Keys)
		})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("fillrandom still running after a minute: writes stalled on L0")
	}
}

// TestWarmReadsEverything: warm reads every byte of every table through
// the file system below Pebble and the engine, where the caches it warms
// are (a gocryptfs mount's, the page cache), and nothing else.
func TestWarmReadsEverything(t *testing.T) {
	c := smallConfig()
	c.MemFS = true
	c, err := c.normalized()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.openStore("store", MethodAES128CTR, ReadRandom)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx := context.Background()
	if err := c.preload(ctx, s, newValuePool(1, c.ValueSize), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.compact(ctx); err != nil {
		t.Fatal(err)
	}
	counted := &countingFS{FS: s.fs, read: map[string]int64{}}
	below := s.fs
	s.fs = counted
	if err := s.warm(); err != nil {
		t.Fatal(err)
	}
	s.fs = below
	var tables int64
	levels, err := s.db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range levels {
		for _, info := range tm {
			name := s.fs.PathJoin(s.dir, tableFile(info))
			st, err := below.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if counted.read[name] != st.Size() {
				t.Errorf("%s: warm read %d of its %d bytes", name, counted.read[name], st.Size())
			}
			tables++
		}
	}
	if tables == 0 || len(counted.read) != int(tables) {
		t.Errorf("warm read %d files; the store has %d tables", len(counted.read), tables)
	}
}

// countingFS counts the bytes read through it, by file name.
type countingFS struct {
	vfs.FS
	read map[string]int64
}

func (fs *countingFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, n: func(k int) { fs.read[name] += int64(k) }}, nil
}

type countingFile struct {
	vfs.File
	n func(int)
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	k, err := f.File.ReadAt(p, off)
	f.n(k)
	return k, err
}
