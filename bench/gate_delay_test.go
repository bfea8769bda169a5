package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// delayConfig is a tiny real benchmark: readrandom on plaintext and
// aes128-ctr, six rounds of 10 ms slices (plaintext's; the slowed method takes
// about 20 times longer) on a 2.3 MB store with a 64 KiB cache,
// so each read goes to a file. About 3 seconds.
func delayConfig(t *testing.T) Config {
	c := Short()
	c.Methods = []Method{MethodAES128CTR}
	c.Workloads = []Workload{ReadRandom}
	c.Rounds, c.WorkloadRounds, c.Builds = 6, nil, 1
	c.Keys = 20000
	c.ValueSize = 100
	c.CacheSize = 64 << 10
	c.Duration = 10 * time.Millisecond
	c.Dir = t.TempDir()
	return c
}

// overheadsOf runs c and reads its overheads back from the benchmark
// file, as the gate does with a committed baseline.
func overheadsOf(t *testing.T, c Config, name string) *OverheadFile {
	t.Helper()
	_, f := runAndRead(t, c, name)
	t.Logf("%s: readrandom/aes128-ctr overheads %.1f", name, f.Samples[Pair{"readrandom", "aes128-ctr"}])
	return f
}

// TestGateCatchesInjectedDelay is the gate on real runs: a baseline, a run
// in which aes128-ctr's files busy-wait 200µs on every read and write (a
// read that took ~7µs now takes ~30 times as long: its overhead goes from a
// few percent to thousands), and an unchanged run. The slowed method fails
// the gate, named with its workload; the unchanged run passes.
//
// Why the unchanged run cannot fail by chance, even on a loaded two-core
// machine with other packages' tests running beside it: overheads are
// paired within a round, so load that lasts longer than a round cancels;
// what is left is ±10 points of noise on a quiet machine, and up to ±100
// with the odd round several hundred off under heavy load (measured). The
// threshold is 100 points, so a failure needs the mean of the unchanged
// rounds' log ratios more than 100 points above the baseline's: a single
// round 500 points off moves a mean of six by a third of that, and it
// must also be significant (one-sided t test over the three builds at
// 0.05), which a lone outlier's spread prevents. The slowed run clears
// the same bar by thousands of points under any load: the busy wait is
// wall time and outgrows the read it delays.
func TestGateCatchesInjectedDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("real Pebble runs, ~10 s; the non-short suite runs it")
	}
	c := delayConfig(t)
	c.Builds = 3 // the gate's units for reads: a baseline needs three
	base := overheadsOf(t, c, "baseline")
	slow := c
	slow.Delay = map[Method]time.Duration{MethodAES128CTR: 200 * time.Microsecond}
	slowed := overheadsOf(t, slow, "slowed")
	same := overheadsOf(t, c, "unchanged")

	const threshold = 100
	g, err := Gate(base, slowed, GateOptions{Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	g.WriteReport(&out)
	regs := g.Regressions()
	if len(regs) != 1 || regs[0].Pair != (Pair{"readrandom", "aes128-ctr"}) || !strings.Contains(out.String(), "REGRESSION: aes128-ctr in readrandom") {
		t.Errorf("slowed aes128-ctr: want one regression naming it:\n%s", out.String())
	}

	g, err = Gate(base, same, GateOptions{Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	g.WriteReport(&out)
	if len(g.Regressions()) != 0 {
		t.Errorf("unchanged run failed the gate:\n%s", out.String())
	}
	t.Logf("unchanged:\n%s", out.String())
}

// TestUnitsFollowBuilds: OverheadFile.Units finds a pair's builds in a
// benchmark file from the run's "builds" setting and the rounds' order;
// here it must group the overheads exactly as the run's own report says
// they ran (Overhead.Build), on a real run with three builds.
func TestUnitsFollowBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("real Pebble runs, ~3 s; the non-short suite runs it")
	}
	c := delayConfig(t)
	c.Methods = []Method{MethodAES128CTR, MethodSM4CTR}
	c.Workloads = []Workload{FillRandom, ReadRandom}
	c.Rounds, c.Builds, c.MemFS = 8, 3, true
	r, f := runAndRead(t, c, "run")
	for _, m := range c.Methods {
		for _, w := range c.Workloads {
			byBuild := map[int][]float64{}
			var rounds int
			for _, o := range r.Overheads {
				if o.Method == m && o.Workload == w {
					byBuild[o.Build] = append(byBuild[o.Build], o.Time)
					rounds++
				}
			}
			units := f.Units(Pair{string(w), m.String()})
			if !w.preloaded() {
				if len(units) != rounds {
					t.Errorf("%s/%s: %d units, want one a round (%d)", w, m, len(units), rounds)
				}
				continue
			}
			if len(units) != len(byBuild) || len(units) != 3 {
				t.Fatalf("%s/%s: %d units, the run had %d builds", w, m, len(units), len(byBuild))
			}
			for i, u := range units {
				want := byBuild[i+1]
				if fmt.Sprint(u) != fmt.Sprint(roundTrip(want)) {
					t.Errorf("%s/%s unit %d: %v, build %d ran %v", w, m, i, u, i+1, want)
				}
			}
		}
	}
}

// roundTrip is vs as a benchmark file holds them: five significant digits.
func roundTrip(vs []float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i], _ = strconv.ParseFloat(formatNumber(v), 64)
	}
	return out
}

// runAndRead runs c and reads its overheads back from its benchmark file.
func runAndRead(t *testing.T, c Config, name string) (*Report, *OverheadFile) {
	t.Helper()
	r, err := Benchmark(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteBenchfmt(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := ReadOverheads(&buf, name, UnitOverhead)
	if err != nil {
		t.Fatal(err)
	}
	return r, f
}
