package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// overheadFile builds a benchmark file's overheads by hand.
func overheadFile(name string, samples map[Pair][]float64) *OverheadFile {
	return &OverheadFile{Name: name, Samples: samples, Config: map[string]string{"keys": "1000"}}
}

func add(vs []float64, d float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v + d
	}
	return out
}

var (
	aesRead = Pair{"readrandom", "aes128-ctr"}
	aesFill = Pair{"fillrandom", "aes128-ctr"}
	sm4Fill = Pair{"fillseq", "sm4-ctr"}
	// Six rounds of a ~5% overhead, with a few points of noise.
	baseRounds = []float64{4.1, 5.3, 6.0, 4.8, 5.5, 3.9}
)

func gate(t *testing.T, base, cur map[Pair][]float64, threshold float64) *GateResult {
	t.Helper()
	g, err := Gate(overheadFile("base.txt", base), overheadFile("new.txt", cur), GateOptions{Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGateSynthetic(t *testing.T) {
	shuffled := []float64{baseRounds[3], baseRounds[0], baseRounds[5], baseRounds[1], baseRounds[4], baseRounds[2]}
	for _, c := range []struct {
		name    string
		cur     []float64
		th      float64
		regress bool
	}{
		{"unchanged", shuffled, 3, false},
		{"regression beyond threshold", add(shuffled, 8), 3, true},
		// Significant against the baseline itself, but within threshold.
		{"within threshold", add(shuffled, 2.5), 3, false},
		{"beyond a zero threshold", add(shuffled, 2.5), 0, true},
		// The mean rose by 6 points, but rounds scatter from -20 to +40:
		// not significant, so no failure.
		{"not significant", []float64{-20, 40, 2, 30, -10, 25}, 3, false},
		// Better than before: never a regression.
		{"improvement", add(shuffled, -4), 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := gate(t, map[Pair][]float64{aesFill: baseRounds, sm4Fill: baseRounds},
				map[Pair][]float64{aesFill: c.cur, sm4Fill: shuffled}, c.th)
			regs := g.Regressions()
			if c.regress != (len(regs) == 1) || len(regs) > 1 {
				t.Fatalf("%d regressions, want regression=%v: %+v", len(regs), c.regress, g.Verdicts)
			}
			var buf bytes.Buffer
			if err := g.WriteReport(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if c.regress {
				if regs[0].Pair != aesFill {
					t.Errorf("regression in %v, want %v", regs[0].Pair, aesFill)
				}
				if !strings.Contains(out, "REGRESSION: aes128-ctr in fillrandom") || !strings.Contains(out, "FAIL") {
					t.Errorf("report does not name the regression:\n%s", out)
				}
			} else if !strings.Contains(out, "PASS") || strings.Contains(out, "REGRESSION") {
				t.Errorf("report:\n%s", out)
			}
		})
	}
}

// TestGateBonferroni: the gate's alpha holds over all the pairs it
// compares, so each pair is tested at alpha/pairs. A shift that one pair
// alone would flag with 5 rounds (p = 1/252 < 0.05) cannot be flagged
// among 24 pairs (0.05/24 < 1/252), and the gate says so instead of
// passing silently.
func TestGateBonferroni(t *testing.T) {
	b5 := baseRounds[:5]
	one := gate(t, map[Pair][]float64{aesFill: b5}, map[Pair][]float64{aesFill: add(b5, 20)}, 3)
	if len(one.Regressions()) != 1 {
		t.Fatalf("one pair, 5 rounds, +20 points: want a regression: %+v", one.Verdicts)
	}
	base, cur := map[Pair][]float64{}, map[Pair][]float64{}
	for i := range 24 {
		p := Pair{fmt.Sprintf("w%d", i), "aes128-ctr"}
		base[p], cur[p] = b5, b5
	}
	cur[Pair{"w0", "aes128-ctr"}] = add(b5, 20)
	_, err := Gate(overheadFile("base.txt", base), overheadFile("new.txt", cur), GateOptions{Threshold: 3})
	if !errors.Is(err, ErrTooFewRounds) || !strings.Contains(err.Error(), "(5+5 rounds; 6 needed)") {
		t.Fatalf("24 pairs of 5 rounds: got %v, want ErrTooFewRounds asking for 6", err)
	}
	b6 := baseRounds
	for p := range base {
		base[p], cur[p] = b6, b6
	}
	cur[Pair{"w0", "aes128-ctr"}] = add(b6, 20)
	g, err := Gate(overheadFile("base.txt", base), overheadFile("new.txt", cur), GateOptions{Threshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	if regs := g.Regressions(); len(regs) != 1 || regs[0].Pair.Workload != "w0" {
		t.Errorf("24 pairs of 6 rounds, one +20: regressions %+v", regs)
	}
}

// TestGateUnitsAreBuilds: where reads ran on several builds of the
// stores, the gate's units are the builds, not the rounds. Here every
// build's rounds agree to a tenth of a point, but the builds scatter by
// two points about a mean one point up: counted as 32 independent rounds
// (as a fill's are) that rise is sure and fails a zero threshold; as 4
// builds it is not sure, and passes.
func TestGateUnitsAreBuilds(t *testing.T) {
	var base, cur []float64
	for b, off := range []float64{2, 0.5, 1.5, -0.2} {
		for r := range 8 {
			jitter := float64(r%3-1) / 10
			base = append(base, 5+jitter+float64(b%2)/10)
			cur = append(cur, 5+off+jitter)
		}
	}
	mk := func(name string, p Pair, vals []float64) *OverheadFile {
		f := overheadFile(name, map[Pair][]float64{p: vals})
		f.Config["builds"] = "4"
		return f
	}
	if u := mk("new.txt", aesRead, cur).Units(aesRead); len(u) != 4 || len(u[0]) != 8 || u[1][0] != cur[8] {
		t.Fatalf("Units with 4 builds: %v", u)
	}
	for _, c := range []struct {
		pair    Pair
		regress bool
	}{{aesFill, true}, {aesRead, false}} {
		g, err := Gate(mk("base.txt", c.pair, base), mk("new.txt", c.pair, cur), GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(g.Regressions()) == 1; got != c.regress {
			t.Errorf("%s: regression %v, want %v: %+v", c.pair, got, c.regress, g.Verdicts)
		}
	}
	// A fill writes a fresh store every slice: its rounds stay the units.
	if u := mk("new.txt", aesFill, cur).Units(aesFill); len(u) != len(cur) {
		t.Errorf("fillrandom with 4 builds: %d units, want one a round", len(u))
	}
}

// benchText is a benchmark file of runs one after another, as make
// baseline joins them: each run's configuration (its builds), then its
// rounds of pair p, in percent.
func benchText(p Pair, runs ...benchRun) string {
	var b strings.Builder
	for i, r := range runs {
		fmt.Fprintf(&b, "cpu: Test CPU\ndate: run %d\nbuilds: %d\n\n", i, r.builds)
		for _, v := range r.rounds {
			fmt.Fprintf(&b, "BenchmarkPebbleOverhead/workload=%s/method=%s 1 %g overhead-%%\n", p.Workload, p.Method, v)
		}
	}
	return b.String()
}

type benchRun struct {
	builds int
	rounds []float64
}

// around is 16 rounds within a fifth of a point of center.
func around(center float64) []float64 {
	out := make([]float64, 16)
	for i := range out {
		out[i] = center + float64(i%5-2)/10
	}
	return out
}

// TestGateRunsAreUnits: a file of several runs (make baseline's) keeps
// each run's rounds apart, and where reads ran each run (and each build
// of it) is a unit of its own: a run keeps its stores' offset for its
// life. The baseline here is CI's failure of 2026-12-05: eight runs of
// scan on sm4-ctr whose centers spread from +20.3% to +24.1%, and a run
// of one build at +24.3%, tight within itself. Counted by rounds, that
// run rose 2.3 points beyond doubt and failed; against the spread of the
// baseline's runs it is one more run, and passes. A run 8 points up
// still fails.
func TestGateRunsAreUnits(t *testing.T) {
	sm4Scan := Pair{"scan", "sm4-ctr"}
	var runs []benchRun
	for _, c := range []float64{24.1, 22.4, 22.0, 21.6, 22.3, 20.3, 22.1, 21.2} {
		runs = append(runs, benchRun{1, around(c)})
	}
	read := func(name, text string) *OverheadFile {
		f, err := ReadOverheads(strings.NewReader(text), name, UnitOverhead)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	base := read("base.txt", benchText(sm4Scan, runs...))
	if u := base.Units(sm4Scan); len(u) != 8 || len(u[7]) != 16 || u[7][0] != 21.0 {
		t.Fatalf("baseline of 8 runs: %d units, the last %v", len(u), u[len(u)-1])
	}
	opt := GateOptions{Threshold: 2, Alpha: 0.025 / 2 / 8} // a pair of make gate's
	for _, c := range []struct {
		pair    Pair
		center  float64
		regress bool
	}{
		{Pair{"fillrandom", "sm4-ctr"}, 24.3, true}, // rounds as units: the false alarm
		{sm4Scan, 24.3, false},
		{sm4Scan, 30, true},
	} {
		b := read("base.txt", benchText(c.pair, runs...))
		g, err := Gate(b, read("new.txt", benchText(c.pair, benchRun{1, around(c.center)})), opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(g.Regressions()) == 1; got != c.regress {
			t.Errorf("%s at %+.1f%%: regression %v, want %v: %+v", c.pair, c.center, got, c.regress, g.Verdicts)
		}
	}
	// Runs of several builds: each run's own setting splits its rounds.
	f := read("mixed.txt", benchText(sm4Scan, benchRun{2, around(1)}, benchRun{1, around(2)}, benchRun{4, around(3)}))
	if u := f.Units(sm4Scan); len(u) != 7 || len(u[0]) != 8 || len(u[2]) != 16 || len(u[3]) != 4 || u[2][0] != 1.8 {
		t.Errorf("runs of 2, 1 and 4 builds: %d units: %v", len(u), u)
	}
}

// TestReadOverheadsRunsLines: a syntax error in a later run names its
// line in the whole file.
func TestReadOverheadsRunsLines(t *testing.T) {
	text := benchText(aesRead, benchRun{1, []float64{1, 2}}, benchRun{1, []float64{3}}) +
		"BenchmarkPebbleOverhead/workload=readrandom/method=aes128-ctr 1 x overhead-%\n"
	lines := strings.Count(text, "\n")
	_, err := ReadOverheads(strings.NewReader(text), "two.txt", UnitOverhead)
	if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("two.txt:%d:", lines)) {
		t.Errorf("got %v, want an error at two.txt:%d", err, lines)
	}
}

func TestGateErrors(t *testing.T) {
	_, err := Gate(overheadFile("base.txt", map[Pair][]float64{aesRead: baseRounds}),
		overheadFile("new.txt", map[Pair][]float64{sm4Fill: baseRounds}), GateOptions{Threshold: 3})
	if !errors.Is(err, ErrNothingToCompare) {
		t.Errorf("no common pair: got %v", err)
	}
	_, err = Gate(overheadFile("base.txt", map[Pair][]float64{aesFill: baseRounds[:3]}),
		overheadFile("new.txt", map[Pair][]float64{aesFill: add(baseRounds[:3], 50)}), GateOptions{Threshold: 3})
	if !errors.Is(err, ErrTooFewRounds) || !strings.Contains(err.Error(), "fillrandom/aes128-ctr (3+3 rounds") {
		t.Errorf("3 rounds: got %v, want ErrTooFewRounds naming the pair", err)
	}
	// Builds: three in the baseline at least.
	two := func(name string, d float64) *OverheadFile {
		f := overheadFile(name, map[Pair][]float64{aesRead: add(baseRounds, d)})
		f.Config["builds"] = "2"
		return f
	}
	_, err = Gate(two("base.txt", 0), two("new.txt", 50), GateOptions{Threshold: 3})
	if !errors.Is(err, ErrTooFewRounds) || !strings.Contains(err.Error(), "readrandom/aes128-ctr (2+2 units") {
		t.Errorf("2 builds: got %v, want ErrTooFewRounds naming the pair", err)
	}
	// Settings that change what an overhead means are reported.
	a := overheadFile("base.txt", map[Pair][]float64{aesFill: baseRounds})
	b := overheadFile("new.txt", map[Pair][]float64{aesFill: baseRounds})
	b.Config["keys"] = "5000"
	g, err := Gate(a, b, GateOptions{Threshold: 3})
	if err != nil || len(g.Differ) != 1 || !strings.Contains(g.Differ[0], "keys") {
		t.Errorf("differing keys: %v, %v", g.Differ, err)
	}
}

func TestParseThreshold(t *testing.T) {
	for s, want := range map[string]float64{"3%": 3, "3": 3, " 2.5pp": 2.5, "0%": 0} {
		if got, err := ParseThreshold(s); err != nil || got != want {
			t.Errorf("ParseThreshold(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1%", "three", "3%%", "NaN"} {
		if _, err := ParseThreshold(s); err == nil {
			t.Errorf("ParseThreshold(%q): want an error", s)
		}
	}
}
