package engine_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/metamorphic"
	"github.com/cockroachdb/pebble/v2/objstorage/remote"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// Pebble's own metamorphic test (package metamorphic) generates random
// operations, runs them on a store under random options and records every
// result in a history; runs of the same operations must have the same
// history whatever the options. Here the engine is one more option: the same
// operations run on the bare FS Pebble's harness picked (vfs.NewMem, or
// vfs.NewCrashableMem when restarts are crashes) and on the engine's FS over
// it, for each method below, and the histories must match line for line.
//
// The harness takes a wrapped FS through one hook, metamorphic.CustomOption:
// its Open gets the harness's *pebble.Options before the store is opened and
// again at every restart, and may replace Options.FS (and the WAL failover
// secondary's FS, which the harness set to the bare FS before calling it).
// A restart, on the crashable MemFS only, is a crash: the harness takes
// vfs.Root(Options.FS).(*vfs.MemFS).CrashClone (synced state only) before it
// closes the store, calls the option's Close, then Open with the clone. So
// the engine's FS must Unwrap to the MemFS, and at every restart a new
// engine FS opens the crash clone with the same master key: each restart
// also tests the engine's recovery. The harness does not call Close at the
// end of a run; metaOption.finish does.
//
// `go test` runs a short, fixed run (one seed on each FS kind, 3000
// operations, a dozen crash restarts, about a second). `make metamorphic`
// runs long ones:
//
//	TDE_METAMORPHIC_OPS   operations per run (default 3000; 1000 with -short)
//	TDE_METAMORPHIC_RUNS  runs, one seed each (default 1; 0 with TIME: until TIME)
//	TDE_METAMORPHIC_TIME  start no run after this long (e.g. 5m)
//	TDE_METAMORPHIC_SEED  first seed (default: fixed for the short run,
//	                      the clock otherwise; logged for reproduction)
//
// A failing run is reproduced by its seed and operation count (generation
// is deterministic); `go test -artifacts` keeps the histories. The store's
// path on the MemFS is a directory of the real disk (the run's artifact
// directory): on a background error the harness copies the MemFS to that
// same path on disk, for a post mortem, and exits the process.

// metaMethods are the methods each run is repeated with.
var metaMethods = []keys.Method{keys.MethodAES128CTR, keys.MethodSM4CTR}

// metaRun is one set of operations and options, run once per variant.
type metaRun struct {
	seed    uint64 // operations
	optSeed uint64 // options: RandomOptions with this seed
	ops     uint64
	strict  bool // with AlwaysStrictFS (vfs.NewCrashableMem, restarts)
	// opCfg builds the operation mix afresh for each generation: an
	// OpConfig holds a random variable that generation advances.
	opCfg func() metamorphic.OpConfig
}

func (r metaRun) String() string {
	return fmt.Sprintf("seed=%d opts=%d ops=%d", r.seed, r.optSeed, r.ops)
}

// options builds the run's TestOptions afresh (they hold a MemFS and a
// cache, so no two executions may share them).
// Pebble's secondary cache is refused by the engine (ErrSecondaryCache), so
// no run enables it.
func (r metaRun) options() *metamorphic.TestOptions {
	o := metamorphic.RandomOptions(mrand.New(mrand.NewPCG(1, r.optSeed)), metamorphic.TestkeysKeyFormat,
		metamorphic.RandomOptionsCfg{AlwaysStrictFS: r.strict})
	o.Opts.Experimental.SecondaryCacheSizeBytes = 0
	return o
}

// crashable reports whether the harness picked vfs.NewCrashableMem for o
// (and so crash restarts): RandomOptions does so at random unless told to.
// MemFS does not say; CrashClone panics on a MemFS that is not crashable.
func crashable(o *metamorphic.TestOptions) (ok bool) {
	m, isMem := o.Opts.FS.(*vfs.MemFS)
	if !isMem {
		return false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	m.CrashClone(vfs.CrashCloneCfg{})
	return true
}

func TestMetamorphic(t *testing.T) {
	defOps := uint64(3000)
	if testing.Short() {
		defOps = 1000 // -race, purego, arm64 under qemu
	}
	opsN := envUint(t, "TDE_METAMORPHIC_OPS", defOps)
	runs := envUint(t, "TDE_METAMORPHIC_RUNS", 0)
	var budget time.Duration
	if s := os.Getenv("TDE_METAMORPHIC_TIME"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TDE_METAMORPHIC_TIME=%q: %v", s, err)
		}
		budget = d
	}
	long := runs > 0 || budget > 0
	seed := envUint(t, "TDE_METAMORPHIC_SEED", 0)
	switch {
	case !long && seed == 0:
		// Of seeds 1-40, one whose tables grow largest (7-12 KiB at
		// 3000 operations): metamorphic runs write small tables, and
		// a bug past the first pages of a file needs them.
		seed = 28
	case seed == 0:
		seed = uint64(time.Now().UnixNano())
	}
	if long && runs == 0 {
		runs = 1 << 62
	}
	keyPath := metaMasterKey(t)

	if !long {
		// One seed, on each FS kind; restarts weigh 5 times their
		// default so the crashable run crashes a dozen times.
		cfg := func() metamorphic.OpConfig {
			return metamorphic.DefaultOpConfig().WithOpWeight(metamorphic.OpDBRestart, 10)
		}
		for _, strict := range []bool{false, true} {
			r := metaRun{seed: seed, optSeed: seed, ops: opsN, strict: strict, opCfg: cfg}
			for !strict && crashable(r.options()) {
				r.optSeed++ // find options on vfs.NewMem
			}
			name := map[bool]string{false: "mem", true: "crashable"}[strict]
			t.Run(name, func(t *testing.T) { runMetamorphic(t, r, keyPath, strict) })
		}
		return
	}

	start := time.Now()
	t.Logf("metamorphic: first seed %d, %d ops per run", seed, opsN)
	for i := uint64(0); i < runs; i++ {
		if budget > 0 && time.Since(start) > budget {
			break
		}
		s := seed + i
		r := metaRun{seed: s, optSeed: s, ops: opsN, opCfg: metamorphic.DefaultOpConfig}
		if s%2 == 1 {
			// Pebble's second preset: many versions of few keys.
			r.opCfg = func() metamorphic.OpConfig {
				return metamorphic.DefaultOpConfig().WithNewPrefixProbability(0.04).
					WithOpWeight(metamorphic.OpWriterDeleteRange, 1).
					WithOpWeight(metamorphic.OpWriterDelete, 5).
					WithOpWeight(metamorphic.OpWriterSingleDelete, 5).
					WithOpWeight(metamorphic.OpWriterMerge, 0)
			}
		}
		if !t.Run(fmt.Sprint(s), func(t *testing.T) { runMetamorphic(t, r, keyPath, false) }) {
			t.Fatalf("reproduce: TDE_METAMORPHIC_SEED=%d TDE_METAMORPHIC_RUNS=1 TDE_METAMORPHIC_OPS=%d go test -run 'Metamorphic$' ./engine/", s, opsN)
		}
	}
	t.Logf("metamorphic: %s", time.Since(start).Round(time.Second))
}

// runMetamorphic runs r on the bare FS and on the engine's FS with each
// method, and fails if any history, final store or engine log says the
// engine was not transparent. wantCrash requires a crash restart in every
// run with the engine.
func runMetamorphic(t *testing.T, r metaRun, keyPath string, wantCrash bool) {
	o := r.options().Opts
	kind := map[bool]string{false: "vfs.NewMem", true: "vfs.NewCrashableMem"}[crashable(r.options())]
	t.Logf("%v: %s threads=%d format=%d wal_dir=%q wal_failover=%v shared=%v secondary_cache=%d",
		r, kind, r.options().Threads, o.FormatMajorVersion, o.WALDir, o.WALFailover != nil,
		o.Experimental.CreateOnShared, o.Experimental.SecondaryCacheSizeBytes)
	dir := t.ArtifactDir()
	// The harness keeps its own files (external objects, ssts to ingest,
	// checkpoints) in the store too, so they go through the engine as well.
	store := filepath.Join(dir, "store")
	bare := runVariant(t, r, keys.MethodPlaintext, "", store, filepath.Join(dir, "bare"))
	histories := []string{bare.history}
	for _, m := range metaMethods {
		v := runVariant(t, r, m, keyPath, store, filepath.Join(dir, m.String()))
		histories = append(histories, v.history)
		if wantCrash && v.opens < 2 {
			t.Errorf("%s: the engine FS was opened %d times; want a crash restart", m, v.opens)
		}
		if v.state != bare.state {
			t.Errorf("%s: final store differs from the bare FS's: %s, want %s", m, v.state, bare.state)
		}
	}
	if i, diff := metamorphic.CompareHistories(t, histories); i != 0 {
		t.Fatalf("%v: history of %s differs from the bare FS's (%s):\n%s", r, filepath.Base(histories[i]), histories[0], diff)
	}
}

type variantResult struct {
	history string // path
	state   string // digest of the final store's contents
	opens   int    // engine FS opens: 1 + crash restarts
}

// runVariant executes r's operations under r's options, on the bare FS
// (m is plaintext) or on the engine's FS with method m.
func runVariant(t *testing.T, r metaRun, m keys.Method, keyPath, store, history string) variantResult {
	t.Helper()
	logs := &warnLog{}
	opt := &metaOption{method: m, store: store, run: fmt.Sprintf("%v, %s", r, m)}
	if m != keys.MethodPlaintext {
		opt.cfg = &engine.Config{
			Method:         m,
			MasterKey:      engine.MasterKeyConfig{Type: "file", Path: keyPath},
			RotationPeriod: time.Second, // rotate data keys during the run
			KeepCoreDumps:  true,        // not this test's business; no warning
			Logger:         slog.New(logs),
		}
	}
	testOpts := r.options()
	testOpts.CustomOpts = append(testOpts.CustomOpts, opt)
	ops := metamorphic.GenerateOps(mrand.New(mrand.NewPCG(2, r.seed)), r.ops, metamorphic.TestkeysKeyFormat, r.opCfg())

	h, err := os.Create(history)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	test, err := metamorphic.New(ops, testOpts, store, h)
	if err != nil {
		t.Fatalf("%v, %s: %v", r, m, err)
	}
	if err := metamorphic.Execute(test); err != nil {
		t.Fatalf("%v, %s: %v (history: %s)", r, m, err, history)
	}
	if err := opt.finish(); err != nil {
		t.Fatalf("%v, %s: closing the engine FS: %v", r, m, err)
	}
	state := finalState(t, testOpts, opt)
	if w := logs.all(); len(w) > 0 {
		t.Errorf("%v, %s: the engine logged:\n%s", r, m, strings.Join(w, "\n"))
	}
	if opt.cfg != nil {
		t.Logf("%s: %d opens, %d data keys, %d bytes encrypted, %d decrypted, largest table %d bytes",
			m, opt.opens, opt.dataKeys, opt.encrypted, opt.decrypted, opt.biggest)
		if opt.encrypted == 0 || opt.decrypted == 0 {
			t.Errorf("%s: no bytes went through the engine's kernels", m)
		}
	}
	return variantResult{history: history, state: state, opens: opt.opens}
}

// metaOption is the hook Pebble's harness offers: it puts the engine's FS
// over the FS the harness gives it, at the start and after every restart.
// With cfg nil it only records the FS (the bare run).
type metaOption struct {
	method keys.Method
	cfg    *engine.Config
	store  string
	run    string     // names the run in messages
	base   vfs.FS     // the harness's FS at the last Open
	fs     *engine.FS // open engine FS, or nil
	opens  int
	hooked bool // the listener is in the harness's options
	// What the engine FSes did, summed over opens: bytes through the
	// kernels, and the most data keys one saw.
	encrypted, decrypted uint64
	dataKeys             int
	biggest              int64 // the final store's largest table
}

func (o *metaOption) Name() string  { return "tde_method" }
func (o *metaOption) Value() string { return o.method.String() }

func (o *metaOption) Open(opts *pebble.Options) error {
	if !o.hooked {
		opts.AddEventListener(o.listener())
		o.hooked = true
	}
	o.base = opts.FS
	if o.cfg == nil {
		return nil
	}
	fs, err := engine.Open(opts.FS, o.store, *o.cfg)
	if err != nil {
		return err
	}
	o.fs = fs
	o.opens++
	if o.opens > 1 {
		// After a crash, new files get a new data key while the old
		// ones keep theirs: a restart within seconds would not rotate.
		if err := fs.RotateDataKey(); err != nil {
			return err
		}
	}
	opts.FS = fs
	if opts.WALFailover != nil {
		// The harness points the secondary at the bare FS before Open;
		// its directory is in the store, so it is the engine's too.
		opts.WALFailover.Secondary.FS = fs
	}
	return nil
}

func (o *metaOption) Close(*pebble.Options) error { return o.finish() }

// listener names the run on stderr at the events on which the harness
// exits the process (test.go's maybeExit), which a test cannot intercept:
// otherwise the output would not say which run and variant failed.
func (o *metaOption) listener() pebble.EventListener {
	report := func(event string, err error) {
		if err == nil || errors.Is(err, pebble.ErrCancelledCompaction) ||
			event == "flush" && strings.Contains(err.Error(), "pebble: empty table") {
			return
		}
		fmt.Fprintf(os.Stderr, "TestMetamorphic: %s: %s error, the harness exits: %v\n", o.run, event, err)
	}
	return pebble.EventListener{
		BackgroundError: func(err error) { report("background", err) },
		CompactionEnd:   func(i pebble.CompactionInfo) { report("compaction", i.Err) },
		FlushEnd:        func(i pebble.FlushInfo) { report("flush", i.Err) },
		DownloadEnd:     func(i pebble.DownloadInfo) { report("download", i.Err) },
		ManifestCreated: func(i pebble.ManifestCreateInfo) { report("manifest create", i.Err) },
		ManifestDeleted: func(i pebble.ManifestDeleteInfo) { report("manifest delete", i.Err) },
		TableDeleted:    func(i pebble.TableDeleteInfo) { report("table delete", i.Err) },
		TableIngested:   func(i pebble.TableIngestInfo) { report("table ingest", i.Err) },
		WALCreated:      func(i pebble.WALCreateInfo) { report("WAL create", i.Err) },
		WALDeleted:      func(i pebble.WALDeleteInfo) { report("WAL delete", i.Err) },
	}
}

func (o *metaOption) finish() error {
	if o.fs == nil {
		return nil
	}
	st := o.fs.Status()
	o.encrypted += st.Encrypted[o.method]
	o.decrypted += st.Decrypted[o.method]
	o.dataKeys = max(o.dataKeys, len(st.Keys))
	err := o.fs.Close()
	o.fs = nil
	return err
}

// finalState reopens the store the run left, through a new engine FS when
// it had one, checks that every file in it is encrypted with the run's
// method, and returns a digest of everything Pebble reads from it.
func finalState(t *testing.T, testOpts *metamorphic.TestOptions, opt *metaOption) string {
	t.Helper()
	fs := opt.base
	if opt.cfg != nil {
		efs, err := engine.Open(opt.base, opt.store, *opt.cfg)
		if err != nil {
			t.Fatalf("reopening the final store: %v", err)
		}
		defer efs.Close()
		files, err := efs.Files()
		if err != nil {
			t.Fatal(err)
		}
		n, biggest := 0, int64(0)
		for _, f := range files {
			if f.Present && strings.HasSuffix(f.Path, ".sst") {
				biggest = max(biggest, f.Size)
			}
			if f.Present && (!f.Entry || f.Method != opt.method) {
				t.Errorf("%s: %s has method %s, entry %v; want %s", opt.method, f.Path, f.Method, f.Entry, opt.method)
			}
			if f.Present {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: the final store lists no files", opt.method)
		}
		opt.biggest = biggest
		fs = efs
	}

	o := testOpts.Opts.Clone()
	o.FS = fs
	o.ReadOnly = true
	o.Cache = nil // the harness released its reference
	o.EventListener = nil
	o.Logger = metaQuiet{}
	if o.WALFailover != nil {
		w := *o.WALFailover
		w.Secondary.FS = fs
		o.WALFailover = &w
	}
	o.Experimental.RemoteStorage = remote.MakeSimpleFactory(map[remote.Locator]remote.Storage{
		"":         remote.NewLocalFS(fs.PathJoin(opt.store, "shared"), fs),
		"external": remote.NewLocalFS(fs.PathJoin(opt.store, "external"), fs),
	})
	db, err := pebble.Open(opt.store, o)
	if err != nil {
		t.Fatalf("%s: opening the final store: %v", opt.method, err)
	}
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{KeyTypes: pebble.IterKeyTypePointsAndRanges})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
		hasPoint, hasRange := it.HasPointAndRange()
		fmt.Fprintf(sum, "%q", it.Key())
		if hasPoint {
			v, err := it.ValueAndErr()
			if err != nil {
				t.Fatalf("%s: reading %q: %v", opt.method, it.Key(), err)
			}
			fmt.Fprintf(sum, "=%q", v)
		}
		if hasRange {
			start, end := it.RangeBounds()
			fmt.Fprintf(sum, "[%q,%q)", start, end)
			for _, rk := range it.RangeKeys() {
				fmt.Fprintf(sum, "%q=%q", rk.Suffix, rk.Value)
			}
		}
		sum.Write([]byte{'\n'})
	}
	if err := it.Close(); err != nil {
		t.Fatalf("%s: iterating the final store: %v", opt.method, err)
	}
	return fmt.Sprintf("%d keys, sha256 %x", n, sum.Sum(nil)[:8])
}

// warnLog collects the engine's warnings and errors: in these runs there
// must be none.
type warnLog struct {
	mu   sync.Mutex
	recs []string
}

func (l *warnLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *warnLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *warnLog) WithGroup(string) slog.Handler                 { return l }

func (l *warnLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}

func (l *warnLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recs...)
}

type metaQuiet struct{}

func (metaQuiet) Infof(string, ...any)  {}
func (metaQuiet) Errorf(string, ...any) {}
func (metaQuiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// metaMasterKey writes a master key file (TiKV's format) for every run.
func metaMasterKey(t *testing.T) string {
	k := make([]byte, 32)
	rand.Read(k)
	p := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envUint(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}
