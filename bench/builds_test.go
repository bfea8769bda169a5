package bench

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestBuildOrders: over as many builds as methods, every method's store
// is made in every position exactly once, and the orders depend on the
// seed.
func TestBuildOrders(t *testing.T) {
	c := Defaults()
	c.Builds = len(c.Methods)
	orders := BuildOrders(c, rand.New(rand.NewPCG(1, 2)))
	if len(orders) != c.Builds {
		t.Fatalf("%d orders, want %d", len(orders), c.Builds)
	}
	for pos := range c.Methods {
		var at []Method
		for _, o := range orders {
			at = append(at, o[pos])
		}
		slices.Sort(at)
		if !slices.Equal(at, AllMethods()) {
			t.Errorf("position %d holds %v over the builds, want each method once", pos+1, at)
		}
	}
	for b, o := range orders {
		sorted := slices.Clone(o)
		slices.Sort(sorted)
		if !slices.Equal(sorted, AllMethods()) {
			t.Errorf("build %d makes %v, want each method once", b+1, o)
		}
	}
	if other := BuildOrders(c, rand.New(rand.NewPCG(3, 4))); slices.EqualFunc(orders, other, slices.Equal) {
		t.Errorf("the build orders do not depend on the seed")
	}
	for _, n := range []int{0, 1} {
		c.Builds = n
		if o := BuildOrders(c, rand.New(rand.NewPCG(1, 2))); len(o) != 1 || !slices.Equal(o[0], c.Methods) {
			t.Errorf("Builds %d: orders %v, want the methods' own, %v", n, o, c.Methods)
		}
	}
}

// TestScheduleBuilds: the fills come first, on no build; then each build
// runs its share of every preloaded workload's rounds, in workload order,
// every round once, the shares differing by at most one.
func TestScheduleBuilds(t *testing.T) {
	c := Defaults()
	c.Builds = 3
	c.Rounds = 4
	c.WorkloadRounds = map[Workload]int{ReadRandom: 10, Scan: 6}
	if got := c.settings().roundsBuildsText(); got != "4 rounds (readrandom=10,scan=6), 3 builds" {
		t.Errorf("settings say %q", got)
	}
	if n := c.MaxBuilds(); n != 2 {
		t.Errorf("MaxBuilds %d, want 2: overwrite and mixed run 4 rounds", n)
	}
	steps := Schedule(c, rand.New(rand.NewPCG(1, 2)))
	type wb struct {
		w Workload
		b int
	}
	perBuild := map[wb]int{}
	seen := map[wb]bool{}
	rounds := map[Workload][]int{}
	last := Step{}
	for i, s := range steps {
		if !s.Workload.preloaded() {
			if s.Build != 0 || (i > 0 && last.Workload.preloaded()) {
				t.Fatalf("step %d: %s on build %d after %s: fills come first, on no build", i, s.Workload, s.Build, last.Workload)
			}
		} else {
			if s.Build < last.Build || s.Build < 1 || s.Build > c.Builds {
				t.Fatalf("step %d: build %d after build %d", i, s.Build, last.Build)
			}
			k := wb{s.Workload, s.Build}
			if s.Workload != last.Workload || s.Build != last.Build {
				if seen[k] {
					t.Fatalf("step %d: %s comes back to build %d", i, s.Workload, s.Build)
				}
				seen[k] = true
				if s.Build == last.Build && cmpWorkload(s.Workload, last.Workload) < 0 {
					t.Fatalf("step %d: build %d runs %s after %s", i, s.Build, s.Workload, last.Workload)
				}
			}
			if s.Method == MethodPlaintext {
				perBuild[k]++
			}
		}
		if s.Method == MethodPlaintext {
			rounds[s.Workload] = append(rounds[s.Workload], s.Round)
		}
		last = s
	}
	for _, w := range c.Workloads {
		n := c.RoundsOf(w)
		want := make([]int, n)
		for i := range want {
			want[i] = i + 1
		}
		got := slices.Clone(rounds[w])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s runs rounds %v, want 1…%d once each", w, rounds[w], n)
		}
		if !w.preloaded() {
			continue
		}
		lo, hi := n, 0
		for b := 1; b <= c.Builds; b++ {
			lo, hi = min(lo, perBuild[wb{w, b}]), max(hi, perBuild[wb{w, b}])
		}
		if lo < n/c.Builds || hi > (n+c.Builds-1)/c.Builds {
			t.Errorf("%s: %d rounds over %d builds, from %d to %d a build", w, n, c.Builds, lo, hi)
		}
	}
}

// TestBuildsTooMany: a build needs two rounds of every preloaded workload
// at least; the error names the workload.
func TestBuildsTooMany(t *testing.T) {
	c := smallConfig()
	c.Workloads = []Workload{FillRandom, ReadRandom}
	c.Rounds, c.WorkloadRounds = 20, map[Workload]int{ReadRandom: 7}
	c.Builds = 4
	if _, err := c.normalized(); err == nil || !strings.Contains(err.Error(), "readrandom runs 7 rounds over 4 builds") {
		t.Errorf("error %v", err)
	}
	c.Builds = 3
	if _, err := c.normalized(); err != nil {
		t.Error(err)
	}
	c.Builds = -1
	if _, err := c.normalized(); err == nil || !strings.Contains(err.Error(), "builds is -1") {
		t.Errorf("error %v", err)
	}
}

// TestBenchmarkBuilds: with two builds the stores are made twice, each
// time in the rotated order, the runs say which build and place they had,
// and the overheads' intervals are taken over the builds.
func TestBenchmarkBuilds(t *testing.T) {
	c := smallConfig()
	c.MemFS = true
	c.Methods = []Method{MethodPlaintext, MethodAES128CTR}
	c.Workloads = []Workload{FillSeq, ReadRandom, Scan}
	c.Rounds, c.WorkloadRounds = 2, map[Workload]int{ReadRandom: 4, Scan: 4}
	c.Builds = 2
	var logged []string
	c.Log = func(s string) { logged = append(logged, s) }
	r, err := Benchmark(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 2 || !strings.HasPrefix(logged[0], "build 1 of 2: making the stores, in the order ") || !strings.HasPrefix(logged[1], "build 2 of 2: ") {
		t.Fatalf("logged %q", logged)
	}
	made := map[int]map[Method]int{}
	for _, run := range r.Runs {
		if run.Workload == FillSeq {
			if run.Build != 0 || run.Made != 0 {
				t.Errorf("fillseq round %d %v: build %d, made %d; want 0, 0", run.Round, run.Method, run.Build, run.Made)
			}
			continue
		}
		if want := (run.Round-1)/2 + 1; run.Build != want {
			t.Errorf("%s round %d: build %d, want %d", run.Workload, run.Round, run.Build, want)
		}
		if made[run.Build] == nil {
			made[run.Build] = map[Method]int{}
		}
		if p, ok := made[run.Build][run.Method]; ok && p != run.Made {
			t.Errorf("build %d: %v made %d and %d", run.Build, run.Method, p, run.Made)
		}
		made[run.Build][run.Method] = run.Made
	}
	for _, m := range c.Methods {
		if made[1][m] < 1 || made[1][m]+made[2][m] != 3 {
			t.Errorf("%v made %d in build 1, %d in build 2: want 1 and 2 in either order", m, made[1][m], made[2][m])
		}
	}
	for _, s := range r.Summaries {
		if s.Method == MethodPlaintext {
			continue
		}
		want := 2
		if s.Workload == FillSeq {
			want = 0
		}
		if s.Overhead.Builds != want || s.CPUOverhead.Builds != want || s.Overhead.Bounded() != (want == 2) {
			t.Errorf("%s %v: overhead over %d builds (CPU %d), bounded %v; want %d", s.Workload, s.Method, s.Overhead.Builds, s.CPUOverhead.Builds, s.Overhead.Bounded(), want)
		}
	}
	if r.Settings.Builds != 2 {
		t.Errorf("settings say %d builds", r.Settings.Builds)
	}
}
