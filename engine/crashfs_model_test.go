package engine

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// ---------------------------------------------------------------------------
// The model.

// ecStore is the store directory; files live in it and in its wal/ subdir.
const ecStore = "/s"

// ecDirs are the directories files go in: the store's, a subdirectory,
// and a directory outside the store (a WAL directory elsewhere, keyed by
// its identifier: extdir.go).
var ecDirs = []string{"", "wal", ecOutside}

const ecOutside = "../xwal"

// ecNode is one file's contents (a MemFS node: every name linked to it).
type ecNode struct {
	id     int
	data   []byte // plaintext from offset 0 (since the reuse, for a reused log)
	minLen int    // how much of data is certainly there (less after a failed write)
	synced int    // how much of data a Sync made durable
	reused bool   // a recycled log: bytes past data may be the older log's
}

// ecHandle is a file open for writing.
type ecHandle struct {
	fh  vfs.File
	seq bool // written with Write from offset 0; else with WriteAt at the end
}

// ecState is a snapshot of the model.
type ecState struct {
	cur    map[string]*ecNode   // the namespace now
	dur    map[string][]*ecNode // what a crash may find under a name (nil: absent; no key: absent only)
	unc    map[string][]*ecNode // other states a failed op may have left a name in (nil: absent)
	need   map[*ecNode]int      // bytes of each node that must read back after a crash
	labels map[string][]string  // namespace ops on a name since it was last made durable
	moves  map[string]string    // destination → source of the renames among them
}

// ecClone is a crash clone and where it was taken.
type ecClone struct {
	fs  *vfs.MemFS
	pct int
	k   uint64
}

// ecWork runs the random workload on the FS and keeps the model.
type ecWork struct {
	t    testing.TB
	seed uint64
	rng  *rand.Rand // the workload
	crng *rand.Rand // crash points
	mem  *vfs.MemFS
	fs   vfs.FS // errorfs over mem: the engine's base
	cfg  Config
	f    *FS

	cur     map[string]*ecNode
	dur     map[string][]*ecNode // see ecState
	unc     map[string][]*ecNode
	unsync  map[string][]string // namespace ops on a name since its directory's last sync
	moves   map[string]string   // destination → source of renames not yet synced
	opMoves map[string]string   // the same, for the current op, kept across its own syncs
	opTouch map[string]string   // names the current op changed, and how
	opCur   map[string]*ecNode  // the namespace when the current op began
	// directories the engine synced on its own during the current op
	// (dictionary rewrite, key registry write): they make the namespace
	// durable as it was at that moment
	internal map[string]bool
	seen     map[string]bool // the same, not cleared by a later sync of ours
	mySync   bool
	handles  map[*ecNode]*ecHandle
	next     int
	nodes    int
	hist     []string
	reenc    int    // successful Reencrypt calls, each with files rewritten
	trace    bool   // log every op (TDE_CRASH_SEED)
	curOp    string // the op running
	lastTry  string // faults_test.go: the poisoned-dictionary check running

	// crash points during an op (a clone at a random write inside it)
	midArmed bool
	mid      []ecClone
	clones   uint64

	// fault injection (faults_test.go)
	inject func(op errorfs.Op) error
}

func newEcWork(t testing.TB, seed uint64) *ecWork {
	t.Helper()
	mem := vfs.NewCrashableMem()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The store directory is empty when the engine first opens it (so the
	// store is strict: every file needs an entry); setup adds wal/.
	must(mem.MkdirAll(ecStore, 0o755))
	must(mem.MkdirAll(ecDirPath(ecOutside), 0o755))
	must(syncDir(mem, "/"))
	w := &ecWork{
		t: t, seed: seed,
		rng:     rand.New(rand.NewPCG(seed, 1)),
		crng:    rand.New(rand.NewPCG(seed, 2)),
		mem:     mem,
		cfg:     testConfig(t, encrypting[seed%uint64(len(encrypting))]),
		cur:     map[string]*ecNode{},
		dur:     map[string][]*ecNode{},
		unc:     map[string][]*ecNode{},
		unsync:  map[string][]string{},
		moves:   map[string]string{},
		opMoves: map[string]string{},
		opTouch: map[string]string{},
		handles: map[*ecNode]*ecHandle{},
		opCur:   map[string]*ecNode{},

		internal: map[string]bool{},
		seen:     map[string]bool{},
	}
	w.cfg.DictionaryRewriteThreshold = 8 // rewrites every few dozen appends
	w.fs = errorfs.Wrap(mem, errorfs.InjectorFunc(w.maybeError))
	return w
}

func (w *ecWork) maybeError(op errorfs.Op) error {
	if w.midArmed && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && w.crng.IntN(4) == 0 {
		w.midArmed = false
		w.mid = append(w.mid, w.clone())
	}
	if w.inject != nil {
		if err := w.inject(op); err != nil {
			return err
		}
	}
	if op.Kind == errorfs.OpFileSync && !w.mySync {
		for _, d := range ecDirs {
			if op.Path == ecDirPath(d) {
				w.internal[d] = true // the engine syncs a directory itself
				w.seen[d] = true
			}
		}
	}
	return nil
}

// clone takes crash point k of this run: a random share of the unsynced
// data and directory entries survives.
func (w *ecWork) clone() ecClone {
	w.clones++
	pct := []int{0, 0, 0, 10, 50, 90, 100}[w.crng.IntN(7)]
	return ecClone{
		fs:  w.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(w.seed, w.clones))}),
		pct: pct,
		k:   w.clones,
	}
}

func ecAbs(rel string) string { return path.Clean(ecStore + "/" + rel) }

func ecDirOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

func ecDirPath(d string) string {
	if d == "" {
		return ecStore
	}
	return path.Clean(ecStore + "/" + d)
}

func (w *ecWork) logf(format string, args ...any) {
	w.hist = append(w.hist, fmt.Sprintf(format, args...))
	if w.trace {
		w.t.Logf("seed %d: %s", w.seed, w.hist[len(w.hist)-1])
	}
	if len(w.hist) > 12 {
		w.hist = w.hist[1:]
	}
}

func (w *ecWork) history() string {
	return "\n\t\trecent ops: " + strings.Join(w.hist, "; ")
}

func (w *ecWork) state() *ecState {
	s := &ecState{cur: maps.Clone(w.cur), dur: map[string][]*ecNode{}, unc: map[string][]*ecNode{},
		need: map[*ecNode]int{}, labels: map[string][]string{}, moves: maps.Clone(w.moves)}
	for rel, ds := range w.dur {
		s.dur[rel] = slices.Clone(ds)
	}
	for rel, us := range w.unc {
		s.unc[rel] = slices.Clone(us)
	}
	for rel, ls := range w.unsync {
		s.labels[rel] = slices.Clone(ls)
	}
	for _, n := range s.cur {
		s.need[n] = n.synced
	}
	for _, m := range []map[string][]*ecNode{s.dur, s.unc} {
		for _, ns := range m {
			for _, n := range ns {
				if n != nil {
					s.need[n] = n.synced
				}
			}
		}
	}
	return s
}

// during returns s with the durable lengths of before: a clone taken inside
// an op may predate the op's syncs.
func (s *ecState) during(before *ecState) *ecState {
	c := *s
	c.need = map[*ecNode]int{}
	for n := range s.need {
		c.need[n] = before.need[n]
	}
	return &c
}

func (w *ecWork) newNode() *ecNode {
	w.nodes++
	return &ecNode{id: w.nodes}
}

func (w *ecWork) fresh(ext string) string {
	w.next++
	name := fmt.Sprintf("%06d%s", w.next, ext)
	if ext == ".log" {
		switch w.rng.IntN(3) {
		case 0:
			return "wal/" + name
		case 1:
			return ecOutside + "/" + name
		}
	}
	return name
}

func (w *ecWork) touch(rel, op string) {
	w.unsync[rel] = append(w.unsync[rel], op)
	w.opTouch[rel] = op
}

func (w *ecWork) moved(from, to string) {
	w.moves[to] = from
	w.opMoves[to] = from
}

// failed records that a failed op may have left rel in state n (nil: absent).
func (w *ecWork) failed(rel string, n *ecNode) {
	w.unc[rel] = append(w.unc[rel], n)
	w.unsync[rel] = append(w.unsync[rel], "failed "+w.curOp)
}

// pick returns a random name for which ok holds, sorted for determinism.
func (w *ecWork) pick(ok func(rel string, n *ecNode) bool) (string, bool) {
	var names []string
	for rel, n := range w.cur {
		if ok(rel, n) {
			names = append(names, rel)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	return names[w.rng.IntN(len(names))], true
}

// closed reports whether no handle is open on n.
func (w *ecWork) closed(n *ecNode) bool { return w.handles[n] == nil }

func (w *ecWork) payload() []byte {
	b := make([]byte, 1+w.rng.IntN(9000))
	for i := 0; i < len(b); i += 8 {
		v := w.rng.Uint64()
		for j := i; j < min(i+8, len(b)); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// write appends a random chunk to n through its handle.
func (w *ecWork) write(n *ecNode) error {
	h := w.handles[n]
	p := w.payload()
	var err error
	if h.seq {
		_, err = h.fh.Write(bytes.Clone(p)) // Write encrypts its buffer in place
	} else {
		_, err = h.fh.WriteAt(p, int64(len(n.data)))
	}
	n.data = append(n.data, p...)
	if err == nil {
		n.minLen = len(n.data)
	}
	return err
}

func (w *ecWork) sync(n *ecNode) error {
	if err := w.handles[n].fh.Sync(); err != nil {
		return err
	}
	n.synced = len(n.data)
	return nil
}

func (w *ecWork) closeNode(n *ecNode) error {
	h := w.handles[n]
	delete(w.handles, n)
	return h.fh.Close()
}

// syncDir syncs directory d as Pebble does after a namespace change: from
// here on its entries survive a crash.
func (w *ecWork) syncDir(d string) error {
	h, err := w.f.OpenDir(ecDirPath(d))
	if err != nil {
		return err
	}
	w.mySync = true
	err = h.Sync()
	w.mySync = false
	h.Close()
	if err != nil {
		return err
	}
	w.durable(d, nil)
	delete(w.internal, d) // this sync supersedes the engine's earlier ones
	return nil
}

// durable records that directory d was synced: what its names hold now
// survives a crash. A name in except was changed by the current op around
// an engine-internal sync, which may have caught it before or after.
func (w *ecWork) durable(d string, except map[string]string) {
	names := map[string]bool{}
	for _, m := range []map[string]*ecNode{w.cur, w.opCur} {
		for rel := range m {
			names[rel] = true
		}
	}
	for rel := range w.dur {
		names[rel] = true
	}
	for rel := range names {
		if ecDirOf(rel) != d {
			continue
		}
		if op, ok := except[rel]; ok {
			ds := []*ecNode{w.opCur[rel], w.cur[rel]}
			if op == "create-over" {
				ds = append(ds, nil) // Create removes the old file first
			}
			w.dur[rel] = slices.Compact(ds)
			continue
		}
		if n := w.cur[rel]; n != nil {
			w.dur[rel] = []*ecNode{n}
		} else {
			delete(w.dur, rel)
		}
		delete(w.unsync, rel)
		delete(w.moves, rel)
	}
}

// beginOp and endOp bracket every op of the workload.
func (w *ecWork) beginOp() {
	clear(w.opMoves)
	clear(w.opTouch)
	clear(w.internal)
	clear(w.seen)
	w.opCur = maps.Clone(w.cur)
}

// inside returns the states a clone taken inside the op just ended may
// show: before it, after it (with the durable lengths of before), and, if
// the engine synced a directory itself during the op, that directory as
// the sync may have caught it (a later sync of ours hides this from after).
func (w *ecWork) inside(before, after *ecState) []*ecState {
	states := []*ecState{before, after.during(before)}
	if len(w.seen) == 0 {
		return states
	}
	s := after.during(before)
	s.dur = map[string][]*ecNode{}
	for rel, ds := range before.dur {
		s.dur[rel] = slices.Clone(ds)
	}
	names := map[string]bool{}
	for _, m := range []map[string]*ecNode{before.cur, after.cur} {
		for rel := range m {
			names[rel] = true
		}
	}
	for rel := range names {
		if !w.seen[ecDirOf(rel)] {
			continue
		}
		ds := []*ecNode{before.cur[rel], after.cur[rel]}
		if w.opTouch[rel] == "create-over" {
			ds = append(ds, nil)
		}
		s.dur[rel] = slices.Compact(ds)
	}
	return append(states, s)
}

func (w *ecWork) endOp() {
	for _, d := range ecDirs {
		if w.internal[d] {
			w.durable(d, w.opTouch)
		}
	}
}

func (w *ecWork) maybeSyncDir(d string, percent int) error {
	if w.rng.IntN(100) < percent {
		return w.syncDir(d)
	}
	return nil
}

// setup makes the wal/ subdirectory through the FS, once it is open.
func (w *ecWork) setup() error {
	if err := w.f.MkdirAll(ecDirPath("wal"), 0o755); err != nil {
		return err
	}
	return w.syncDir("")
}

func (w *ecWork) open() error {
	f, err := Open(w.fs, ecStore, w.cfg)
	if err != nil {
		return err
	}
	w.f = f
	return nil
}

// startEcWork is newEcWork opened and set up, shut down when the test
// ends: the start of the tests that drive one scenario by hand.
func startEcWork(t testing.TB, seed uint64) *ecWork {
	t.Helper()
	w := newEcWork(t, seed)
	if err := errors.Join(w.open(), w.setup()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.shutdown() })
	return w
}

// shutdown closes every handle and the FS.
func (w *ecWork) shutdown() error {
	var errs []error
	for _, n := range slices.SortedFunc(maps.Keys(w.handles), func(a, b *ecNode) int { return a.id - b.id }) {
		errs = append(errs, w.closeNode(n))
	}
	if w.f != nil {
		errs = append(errs, w.f.Close())
		w.f = nil
	}
	return errors.Join(errs...)
}
