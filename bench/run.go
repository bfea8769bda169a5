package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"
)

// Step is one slice of the schedule.
type Step struct {
	Round    int // from 1
	Workload Workload
	Method   Method
	Order    int // position among the methods of its round and workload, from 1
	// Build is which making of the preloaded stores the slice reads or
	// rewrites, from 1 (see Config.Builds); 0 for a fill, whose slice
	// makes a store of its own.
	Build int
}

// Schedule lays out the slices: for each workload, its rounds, and in
// each round every method once, in an order shuffled afresh each time.
// The methods of one round run back to back, a slice each, so a drift of
// the machine (a neighbour, the page cache, heat) lands on whichever
// method happens to run then, never systematically on one; comparing each
// method with the plaintext slice of the same round then cancels it.
//
// The fills come first. The workloads on preloaded stores follow, build
// by build: the stores are made afresh Builds times, and each build runs
// its share of every such workload's rounds, in workload order.
func Schedule(c Config, r *rand.Rand) []Step {
	var steps []Step
	round := func(w Workload, round, build int) {
		ms := slices.Clone(c.Methods)
		r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		for i, m := range ms {
			steps = append(steps, Step{Round: round, Workload: w, Method: m, Order: i + 1, Build: build})
		}
	}
	for _, w := range c.Workloads {
		if !w.preloaded() {
			for n := 1; n <= c.RoundsOf(w); n++ {
				round(w, n, 0)
			}
		}
	}
	nb := c.builds()
	for b := range nb {
		for _, w := range c.Workloads {
			if w.preloaded() {
				first, last := c.buildRounds(w, b)
				for n := first; n <= last; n++ {
					round(w, n, b+1)
				}
			}
		}
	}
	return steps
}

// Benchmark runs the benchmark c describes and returns its report. Stores
// live in a temporary directory inside c.Dir (or in memory, with MemFS),
// removed when Benchmark returns, whichever way it returns.
func Benchmark(ctx context.Context, c Config) (_ *Report, err error) {
	c, err = c.normalized()
	if err != nil {
		return nil, err
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	env := CurrentEnv()
	root, err := os.MkdirTemp(c.Dir, "tdebench-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(root)) }()
	b := &bench{c: &c, root: root, loaded: map[Method]*store{}}
	defer func() { err = errors.Join(err, b.close()) }()
	for _, n := range c.Notes {
		b.notef("%s", n)
	}
	if slices.Contains(c.Methods, MethodGocryptfs) {
		if err := b.mountGocryptfs(); err != nil {
			c.Methods = slices.DeleteFunc(c.Methods, func(m Method) bool { return m == MethodGocryptfs })
			b.notef("gocryptfs skipped: %v", err)
		}
	}

	steps := Schedule(c, rand.New(rand.NewPCG(c.Seed, 0x7363686564)))
	b.orders = BuildOrders(c, rand.New(rand.NewPCG(c.Seed, 0x6275696c64)))
	runs := make([]Run, 0, len(steps))
	if c.Progress != nil {
		c.Progress(Progress{Total: len(steps)})
	}
	for i, st := range steps {
		if i == 0 || st.Workload != steps[i-1].Workload || st.Build != steps[i-1].Build {
			if st.Build != b.build {
				if err := b.closeStores(); err != nil {
					return nil, fmt.Errorf("closing the stores of build %d: %w", b.build, err)
				}
				b.build = st.Build
				if c.builds() > 1 && c.Log != nil {
					c.Log(fmt.Sprintf("build %d of %d: making the stores, in the order %s", b.build, c.builds(), joinMethods(b.madeOrder())))
				}
			}
			if err := b.startWorkload(ctx, st.Workload); err != nil {
				return nil, fmt.Errorf("%s: %w", st.Workload, err)
			}
		}
		run, err := b.runStep(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("round %d, %s, %v: %w", st.Round, st.Workload, st.Method, err)
		}
		runs = append(runs, run)
		if c.Progress != nil {
			c.Progress(Progress{Done: i + 1, Total: len(steps), Run: run})
		}
	}
	s := c.settings()
	s.SliceOps = b.sliceOps
	s.Notes = b.notes
	return NewReport(env, s, runs), nil
}

// bench is one Benchmark's state: the preloaded stores, one per method and
// all open at once, the gocryptfs mount, and each workload's operations
// per slice.
type bench struct {
	c      *Config
	root   string
	loaded map[Method]*store // preloaded stores, shared by the workloads that read or rewrite
	// build is the current build of the loaded stores (Step.Build), and
	// orders[build-1] the order its stores were made in.
	build  int
	orders [][]Method
	// compacted: the loaded stores are as the last compaction left them
	// (see store.compact).
	compacted bool
	gcfs      *gocryptfsMount // nil unless gocryptfs runs
	sliceOps  map[Workload]int
	ops       int // the current workload's
	notes     []string
	n         int // stores made, for unique names
}

func (b *bench) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.notes = append(b.notes, msg)
	if b.c.Log != nil {
		b.c.Log(msg)
	}
}

// dir is a fresh directory name for a store of method m.
func (b *bench) dir(m Method, w Workload) string {
	b.n++
	parent := b.root
	if m == MethodGocryptfs {
		parent = b.gcfs.plain
	}
	return filepath.Join(parent, fmt.Sprintf("%04d-%s-%s", b.n, w, m))
}

func (b *bench) open(m Method, w Workload) (*store, error) {
	s, err := b.c.openStore(b.dir(m, w), m, w)
	if err == nil && m == MethodGocryptfs {
		s.helperCPU = b.gcfs.cpu
	}
	return s, err
}

// madeOrder is the order the current build makes its stores in; the
// methods' own before the first build.
func (b *bench) madeOrder() []Method {
	if b.build == 0 {
		return b.c.Methods
	}
	return b.orders[b.build-1]
}

// closeStores closes and removes the preloaded stores, for the next
// build to make its own.
func (b *bench) closeStores() error {
	var errs []error
	for m, s := range b.loaded {
		errs = append(errs, s.close())
		delete(b.loaded, m)
	}
	b.compacted = false
	return errors.Join(errs...)
}

// close closes every store, then unmounts gocryptfs.
func (b *bench) close() error {
	errs := []error{b.closeStores()}
	if b.gcfs != nil {
		errs = append(errs, b.gcfs.unmount())
		b.gcfs = nil
	}
	return errors.Join(errs...)
}

// startWorkload prepares workload w for the current build: the preloaded
// stores on first need (every method's, in the build's order, loaded once
// and reused by every workload of the build that reads or rewrites),
// compacted, then read once through (store.warm), unless nothing has
// written to them since they last were, then
// the number of operations per slice (calibrated in the first build only,
// so every build runs the same slices), then one unmeasured slice per
// method.
func (b *bench) startWorkload(ctx context.Context, w Workload) error {
	if w.preloaded() && len(b.loaded) == 0 {
		for _, m := range b.madeOrder() {
			s, err := b.open(m, w)
			if err != nil {
				return err
			}
			b.loaded[m] = s
			pprof.Do(ctx, pprof.Labels("method", m.String(), "workload", string(w), "phase", "preload"), func(ctx context.Context) {
				err = b.c.preload(ctx, s, newValuePool(b.c.Seed, b.c.ValueSize), b.c.Seed)
			})
			if err != nil {
				return fmt.Errorf("preload %v: %w", m, err)
			}
		}
	}
	// Compactions and warm-ups go in the build's order too, so that no
	// step of making a store favours one method in every build.
	if w.preloaded() && !b.compacted {
		for _, m := range b.madeOrder() {
			var err error
			pprof.Do(ctx, pprof.Labels("method", m.String(), "workload", string(w), "phase", "compact"), func(ctx context.Context) {
				err = b.loaded[m].compact(ctx)
			})
			if err != nil {
				return fmt.Errorf("compacting the store of %v: %w", m, err)
			}
			pprof.Do(ctx, pprof.Labels("method", m.String(), "workload", string(w), "phase", "warm"), func(context.Context) {
				err = b.loaded[m].warm()
			})
			if err != nil {
				return fmt.Errorf("reading the store of %v once through: %w", m, err)
			}
		}
	}
	if w.preloaded() {
		// A workload that writes changes each store's shape again, each
		// with its own timing; the next one compacts first.
		b.compacted = !w.writes()
	}
	if b.sliceOps == nil {
		b.sliceOps = map[Workload]int{}
	}
	if b.sliceOps[w] == 0 {
		ops, err := b.calibrate(ctx, w)
		if err != nil {
			return fmt.Errorf("calibration: %w", err)
		}
		b.sliceOps[w] = ops
	}
	b.ops = b.sliceOps[w]
	for _, m := range b.madeOrder() {
		if _, err := b.runStep(ctx, Step{Round: 0, Workload: w, Method: m}); err != nil {
			return fmt.Errorf("warm-up slice of %v: %w", m, err)
		}
	}
	return nil
}

// calibrate finds how many operations of w plaintext does in about
// Duration: pilot slices on plaintext, four times larger each time, until
// the operations of one (the flush and compactions that end a writing
// slice left out) last a fifth of Duration, then scaled to Duration. Every
// other method then runs the same pilots, unmeasured, so that the loaded
// stores, which the pilots of writing workloads change, stay alike.
func (b *bench) calibrate(ctx context.Context, w Workload) (int, error) {
	const minOps = 64
	var pilots []int
	ops := 0
	for n := minOps; ops == 0; n *= 4 {
		run, err := b.slice(ctx, Step{Workload: w, Method: MethodPlaintext}, n, 0x63616c+uint64(n))
		if err != nil {
			return 0, err
		}
		pilots = append(pilots, n)
		if run.Foreground >= b.c.Duration/5 || n >= 1<<26 {
			ops = max(minOps, int(float64(n)*b.c.Duration.Seconds()/run.Foreground.Seconds()))
		}
	}
	for _, m := range b.c.Methods {
		if m == MethodPlaintext {
			continue
		}
		for _, n := range pilots {
			if _, err := b.slice(ctx, Step{Workload: w, Method: m}, n, 0x63616c+uint64(n)); err != nil {
				return 0, err
			}
		}
	}
	return ops, nil
}

// runStep runs one slice of the schedule: the workload's operations per
// slice, on the method's preloaded store or, for a fill, on a fresh one.
func (b *bench) runStep(ctx context.Context, st Step) (Run, error) {
	return b.slice(ctx, st, b.ops, runSeed(b.c.Seed, st))
}

// slice runs n operations of st's workload for st's method. Everything it
// does, Pebble's background work included (goroutines inherit labels),
// carries the pprof labels method and workload, so that a CPU profile
// (tdebench run --cpuprofile) can be cut by method: go tool pprof
// -tagfocus method=sm4-ctr.
func (b *bench) slice(ctx context.Context, st Step, n int, seed uint64) (run Run, err error) {
	labels := pprof.Labels("method", st.Method.String(), "workload", string(st.Workload), "phase", "measured")
	pprof.Do(ctx, labels, func(ctx context.Context) {
		s := b.loaded[st.Method]
		if !st.Workload.preloaded() {
			if s, err = b.open(st.Method, st.Workload); err != nil {
				return
			}
			defer func() { err = errors.Join(err, s.close()) }()
		}
		run, err = b.c.runSlice(ctx, st.Workload, s, newValuePool(seed, b.c.ValueSize), seed, n)
	})
	run.Method, run.Round, run.Order, run.Build = st.Method, st.Round, st.Order, st.Build
	if st.Build > 0 && st.Build == b.build {
		run.Made = slices.Index(b.madeOrder(), st.Method) + 1
	}
	return run, err
}

// runSeed is the seed of one slice: the same for every method of a round
// and workload, so they write and read the same keys and values.
func runSeed(seed uint64, st Step) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s", seed, st.Round, st.Workload)
	return h.Sum64()
}

// pollIdle is how often waitIdle looks at Pebble's metrics.
const pollIdle = 250 * time.Microsecond
