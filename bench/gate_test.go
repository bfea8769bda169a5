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
			g := gate(t, map[Pair][]float64{aesRead: baseRounds, sm4Fill: baseRounds},
				map[Pair][]float64{aesRead: c.cur, sm4Fill: shuffled}, c.th)
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
				if regs[0].Pair != aesRead {
					t.Errorf("regression in %v, want %v", regs[0].Pair, aesRead)
				}
				if !strings.Contains(out, "REGRESSION: aes128-ctr in readrandom") || !strings.Contains(out, "FAIL") {
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
	one := gate(t, map[Pair][]float64{aesRead: b5}, map[Pair][]float64{aesRead: add(b5, 20)}, 3)
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

// TestGateUnitsAreBuilds: where the run made its stores several times,
// the gate's units are the builds, not the rounds. Here every build's
// rounds agree to a tenth of a point, but the builds scatter by two
// points about a mean one point up: counted as 32 independent rounds that
// rise is sure (and the same values from a run of one build fail a zero
// threshold); as 4 builds it is not sure, and they pass.
func TestGateUnitsAreBuilds(t *testing.T) {
	var base, cur []float64
	for b, off := range []float64{2, 0.5, 1.5, -0.2} {
		for r := range 8 {
			jitter := float64(r%3-1) / 10
			base = append(base, 5+jitter+float64(b%2)/10)
			cur = append(cur, 5+off+jitter)
		}
	}
	mk := func(name string, vals []float64, builds string) *OverheadFile {
		f := overheadFile(name, map[Pair][]float64{aesRead: vals})
		f.Config["builds"] = builds
		return f
	}
	if u := mk("new.txt", cur, "4").Units(aesRead); len(u) != 4 || len(u[0]) != 8 || u[1][0] != cur[8] {
		t.Fatalf("Units with 4 builds: %v", u)
	}
	for _, c := range []struct {
		builds  string
		regress bool
	}{{"1", true}, {"4", false}} {
		g, err := Gate(mk("base.txt", base, c.builds), mk("new.txt", cur, c.builds), GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(g.Regressions()) == 1; got != c.regress {
			t.Errorf("builds %s: regression %v, want %v: %+v", c.builds, got, c.regress, g.Verdicts)
		}
	}
	// A fill writes a fresh store every slice: its rounds stay the units.
	fill := Pair{"fillrandom", "aes128-ctr"}
	f := overheadFile("new.txt", map[Pair][]float64{fill: cur})
	f.Config["builds"] = "4"
	if u := f.Units(fill); len(u) != len(cur) {
		t.Errorf("fillrandom with 4 builds: %d units, want one a round", len(u))
	}
}

func TestGateErrors(t *testing.T) {
	_, err := Gate(overheadFile("base.txt", map[Pair][]float64{aesRead: baseRounds}),
		overheadFile("new.txt", map[Pair][]float64{sm4Fill: baseRounds}), GateOptions{Threshold: 3})
	if !errors.Is(err, ErrNothingToCompare) {
		t.Errorf("no common pair: got %v", err)
	}
	_, err = Gate(overheadFile("base.txt", map[Pair][]float64{aesRead: baseRounds[:3]}),
		overheadFile("new.txt", map[Pair][]float64{aesRead: add(baseRounds[:3], 50)}), GateOptions{Threshold: 3})
	if !errors.Is(err, ErrTooFewRounds) || !strings.Contains(err.Error(), "readrandom/aes128-ctr (3+3 rounds") {
		t.Errorf("3 rounds: got %v, want ErrTooFewRounds naming the pair", err)
	}
	// Builds: three a side at least.
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
	a := overheadFile("base.txt", map[Pair][]float64{aesRead: baseRounds})
	b := overheadFile("new.txt", map[Pair][]float64{aesRead: baseRounds})
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
