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
)

// Step is one run of the schedule.
type Step struct {
	Round    int // from 1
	Workload Workload
	Method   Method
	Order    int // position among the methods of its round and workload, from 1
}

// Schedule lays out the runs: for each round, for each workload, every
// method once, in an order shuffled afresh each time. Running the methods
// of one workload back to back, in random order, means a drift of the
// machine (a neighbour, the page cache, heat) lands on whichever method
// happens to run then, never systematically on one; comparing each method
// with the plaintext run of the same round and workload then cancels it.
func Schedule(c Config, r *rand.Rand) []Step {
	var steps []Step
	for round := 1; round <= c.Rounds; round++ {
		for _, w := range c.Workloads {
			ms := slices.Clone(c.Methods)
			r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
			for i, m := range ms {
				steps = append(steps, Step{Round: round, Workload: w, Method: m, Order: i + 1})
			}
		}
	}
	return steps
}

// Benchmark runs the benchmark c describes and returns its report. Stores live
// in a temporary directory inside c.Dir, each removed after its run, the
// directory when Benchmark returns.
func Benchmark(ctx context.Context, c Config) (*Report, error) {
	c, err := c.normalized()
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
	defer os.RemoveAll(root)

	if err := c.warmUp(ctx, root); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	steps := Schedule(c, rand.New(rand.NewPCG(c.Seed, 0x7363686564)))
	runs := make([]Run, 0, len(steps))
	if c.Progress != nil {
		c.Progress(Progress{Total: len(steps)})
	}
	for i, st := range steps {
		run, err := c.runStep(ctx, root, st, i)
		if err != nil {
			return nil, fmt.Errorf("round %d, %s, %v: %w", st.Round, st.Workload, st.Method, err)
		}
		runs = append(runs, run)
		if c.Progress != nil {
			c.Progress(Progress{Done: i + 1, Total: len(steps), Run: run})
		}
	}
	return NewReport(env, c.settings(), runs), nil
}

// runStep runs one step on a fresh store. Everything it does, Pebble's
// background work included (goroutines inherit labels), carries the pprof
// labels method and workload, so that a CPU profile (tdebench run
// --cpuprofile) can be cut by method: go tool pprof -tagfocus
// method=sm4-ctr.
func (c *Config) runStep(ctx context.Context, root string, st Step, i int) (run Run, err error) {
	labels := pprof.Labels("method", st.Method.String(), "workload", string(st.Workload))
	pprof.Do(ctx, labels, func(ctx context.Context) {
		run, err = c.runStepLabeled(ctx, root, st, i)
	})
	return run, err
}

func (c *Config) runStepLabeled(ctx context.Context, root string, st Step, i int) (_ Run, err error) {
	dir := filepath.Join(root, fmt.Sprintf("%04d-%s-%s", i, st.Workload, st.Method))
	s, err := openStore(dir, st.Method, c.CacheSize, c.Delay[st.Method])
	if err != nil {
		return Run{}, err
	}
	defer func() { err = errors.Join(err, s.close()) }()
	run, err := c.runWorkload(ctx, st.Workload, s, runSeed(c.Seed, st))
	run.Method, run.Round, run.Order = st.Method, st.Round, st.Order
	return run, err
}

// warmUp fills a small store once per method, unmeasured, so that the
// first measured run does not also pay for the process's first heap
// growth, page faults and code paths, whichever method the shuffle puts
// first.
func (c *Config) warmUp(ctx context.Context, root string) error {
	w := *c
	w.Keys = min(c.Keys, 10000)
	for _, m := range c.Methods {
		s, err := openStore(filepath.Join(root, "warmup-"+m.String()), m, c.CacheSize, c.Delay[m])
		if err != nil {
			return err
		}
		_, err = w.runWorkload(ctx, FillSeq, s, 1)
		if err := errors.Join(err, s.close()); err != nil {
			return err
		}
	}
	return nil
}

// runSeed is the seed of one run: the same for every method of a round and
// workload, so they write and read the same keys and values.
func runSeed(seed uint64, st Step) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s", seed, st.Round, st.Workload)
	return h.Sum64()
}
