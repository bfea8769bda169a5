package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSchedule: every round runs every workload once per method, the
// methods' order is shuffled afresh, and the orders differ across rounds;
// a workload's rounds run together, one after another.
func TestSchedule(t *testing.T) {
	c := Defaults()
	c.Rounds, c.WorkloadRounds, c.Builds = 8, nil, 1
	steps := Schedule(c, rand.New(rand.NewPCG(1, 2)))
	if len(steps) != 8*len(c.Workloads)*len(c.Methods) {
		t.Fatalf("%d steps, want %d", len(steps), 8*len(c.Workloads)*len(c.Methods))
	}
	type rw struct {
		round int
		w     Workload
	}
	orders := map[rw][]Method{}
	last := Step{}
	for _, s := range steps {
		if s.Workload == last.Workload && s.Round < last.Round {
			t.Fatalf("%s: round %d after round %d: rounds must not interleave", s.Workload, s.Round, last.Round)
		}
		if s.Workload != last.Workload && (s.Round != 1 || s.Order != 1 || last.Workload != "" && last.Round != c.Rounds) {
			t.Fatalf("%s starts at round %d, slice %d, after round %d of %s: workloads must not interleave", s.Workload, s.Round, s.Order, last.Round, last.Workload)
		}
		last = s
		k := rw{s.Round, s.Workload}
		if s.Order != len(orders[k])+1 {
			t.Errorf("round %d %s: %v has order %d, want %d", s.Round, s.Workload, s.Method, s.Order, len(orders[k])+1)
		}
		orders[k] = append(orders[k], s.Method)
	}
	for k, ms := range orders {
		sorted := slices.Clone(ms)
		slices.Sort(sorted)
		if !slices.Equal(sorted, AllMethods()) {
			t.Errorf("round %d %s runs %v, want each method once", k.round, k.w, ms)
		}
	}
	// The order differs across rounds (for every workload: 5! orders, 8
	// rounds; a fixed order would repeat every time).
	for _, w := range c.Workloads {
		distinct := map[string]bool{}
		first := map[Method]int{}
		for r := 1; r <= c.Rounds; r++ {
			ms := orders[rw{r, w}]
			distinct[fmtMethods(ms)] = true
			first[ms[0]]++
		}
		if len(distinct) < 4 {
			t.Errorf("%s: only %d distinct orders in 8 rounds", w, len(distinct))
		}
		if len(first) < 2 {
			t.Errorf("%s: the same method ran first in every round", w)
		}
	}
	// Deterministic for a seed, different for another.
	again := Schedule(c, rand.New(rand.NewPCG(1, 2)))
	other := Schedule(c, rand.New(rand.NewPCG(3, 4)))
	if !slices.Equal(steps, again) || slices.Equal(steps, other) {
		t.Errorf("the schedule should depend on the seed, and only on it")
	}
}

func fmtMethods(ms []Method) string {
	s := ""
	for _, m := range ms {
		s += m.String() + " "
	}
	return s
}

// TestScheduleWorkloadRounds: a workload WorkloadRounds names runs that
// many rounds, the others Rounds; the short preset gives the reads more.
func TestScheduleWorkloadRounds(t *testing.T) {
	c := Defaults()
	c.Rounds, c.Builds = 4, 1
	c.WorkloadRounds = map[Workload]int{ReadRandom: 9, FillSeq: 2}
	count := map[Workload]int{}
	for _, s := range Schedule(c, rand.New(rand.NewPCG(1, 2))) {
		if s.Method == MethodPlaintext {
			count[s.Workload]++
		}
	}
	for _, w := range c.Workloads {
		if want := c.RoundsOf(w); count[w] != want {
			t.Errorf("%s: %d rounds, want %d", w, count[w], want)
		}
	}
	if count[ReadRandom] != 9 || count[FillSeq] != 2 || count[Scan] != 4 {
		t.Errorf("rounds %v: want readrandom 9, fillseq 2, the rest 4", count)
	}
	if got := c.settings().roundsText(); got != "4 rounds (fillseq=2,readrandom=9)" {
		t.Errorf("settings say %q", got)
	}
	s := Short()
	if s.RoundsOf(ReadRandom) <= s.Rounds || s.RoundsOf(Scan) <= s.Rounds {
		t.Errorf("the short preset runs readrandom %d and scan %d rounds, no more than the %d of the rest", s.RoundsOf(ReadRandom), s.RoundsOf(Scan), s.Rounds)
	}
	for _, bad := range []map[Workload]int{{ReadRandom: 0}, {"nosuch": 3}} {
		b := Short()
		b.WorkloadRounds = bad
		if _, err := b.normalized(); err == nil {
			t.Errorf("workload rounds %v: want an error", bad)
		}
	}
}

func TestNormalized(t *testing.T) {
	c := Short()
	c.Methods = []Method{MethodSM4CTR, MethodSM4CTR}
	n, err := c.normalized()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.Methods, []Method{MethodPlaintext, MethodSM4CTR}) {
		t.Errorf("methods %v: want plaintext added first and duplicates dropped", n.Methods)
	}
	bad := Short()
	bad.CacheSize = bad.DataBytes() / 2
	bad.Rounds = 0
	if err := bad.Validate(); err == nil {
		t.Errorf("a cache half the data and 0 rounds: want an error")
	}
	for _, s := range []string{"8MiB", "8M", "8mb", "8388608"} {
		if n, err := ParseSize(s); err != nil || n != 8<<20 && s != "8388608" || s == "8388608" && n != 8388608 {
			t.Errorf("ParseSize(%q) = %d, %v", s, n, err)
		}
	}
	for _, s := range []string{"", "MiB", "8TB", "-1", "1.5MiB"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q): want an error", s)
		}
	}
}
