package bench

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// The gate compares overheads, not times: a CI machine is not the machine
// the baseline was recorded on, but the price of encryption relative to
// plaintext on the same machine moves far less than either.
//
// For every workload and method in both files it calls it a regression
// when the current run's overhead is significantly above the baseline's,
// and above it by more than the threshold T. So "--threshold 2%" means:
// fail when the overhead rose, beyond reasonable doubt, and by more than
// 2 percentage points (say from 5% to beyond 7% slower than plaintext).
//
// Why not "significantly above the baseline + T", which the gate tested
// until 2026-12-05: that fails only when the rise is sure to exceed T, so
// a rise of T + 1 had to be known to a fraction of a point, and a 3-point
// rise against a 2-point margin failed in 0 of 10 runs (bench/README.md,
// "Gate power"). Testing the rise against zero and asking its size to
// pass T fails a rise of T + 1 once the rise is known to about half a
// point, and an unchanged build only if it seems both surely higher and
// more than T higher.
//
// What is compared is the overheads' units (OverheadFile.Units). A
// fill's rounds, each on a store of its own: their medians, and a
// one-sided Mann-Whitney U test (benchmath's AssumeNothing: no assumption
// about the distribution, whose tails are heavy). Reads' builds: the
// rounds of a build share its stores and the minutes it ran in, which
// can put a method's overhead a few points off (in CI's run of
// 2026-12-05, one build put scan on sm4-ctr 2.1 points above the
// baseline's median, and its 256 rounds, counted as independent, made
// that rise look sure: bench/README.md, "Gate power"), so the rounds of
// one build of one run are a unit, and
// only the spread between units says how sure a rise is. Their centers
// are compared by their means and a one-sided Student t test with the
// variance pooled: both sides' units come from the same command, and
// the baseline's many give the spread a run's few are judged by. Either
// test runs at alpha divided by the number of pairs compared
// (Bonferroni): alpha is the chance that an unchanged build fails the
// gate anywhere, not in each pair. Noise, however large, does not fail
// the gate by itself; it only raises the smallest regression the gate
// can see; more builds lower it (bench/README.md measures what make gate
// catches).

// minUnits is the fewest builds the baseline needs for a read: with
// fewer, the t test has no spread to go by, or almost none.
const minUnits = 3

// GateOptions configures Gate.
type GateOptions struct {
	// Threshold is the tolerated rise of overhead, in percentage points.
	Threshold float64
	// Alpha is the gate's significance level over all the pairs it
	// compares together (0 means 0.05); each pair is tested at Alpha
	// divided by the number of pairs.
	Alpha float64
	// Unit is the overhead unit compared: UnitOverhead ("" means it) or
	// UnitCPUOverhead.
	Unit string
}

// Verdict is the gate's finding for one workload and method.
type Verdict struct {
	Pair      Pair
	Baseline  Interval // center and 95% CI of the baseline's overheads (median of rounds, or mean of builds)
	Current   Interval // the same for the current run
	Change    float64  // Current.Median − Baseline.Median, percentage points
	P         float64  // one-sided test of current > baseline (U on rounds, Student t on builds)
	Regressed bool
}

// GateResult is every verdict, and what could not be compared.
type GateResult struct {
	Options   GateOptions
	Baseline  string // file names, for the report
	Current   string
	PairAlpha float64 // the significance level of each pair's test
	Verdicts  []Verdict
	Unmatched []string // pairs in one file only
	Differ    []string // settings that differ between the files
}

// Regressions lists the verdicts that failed.
func (g *GateResult) Regressions() []Verdict {
	var out []Verdict
	for _, v := range g.Verdicts {
		if v.Regressed {
			out = append(out, v)
		}
	}
	return out
}

// ErrNothingToCompare is Gate's error when the files share no workload and
// method.
var ErrNothingToCompare = errors.New("gate: the baseline and the run share no (workload, method) with overheads")

// ErrTooFewRounds is Gate's error when a workload and method has so few
// rounds that the U test could not flag a regression whatever the numbers,
// or a baseline of fewer than minUnits builds: a gate that cannot fail
// is not a gate.
var ErrTooFewRounds = errors.New("gate: too few rounds to detect a regression")

// gateSettings are the file configuration keys that change what an
// overhead means; the gate warns when the files disagree on them.
var gateSettings = []string{"cpu", "goarch", "tde-ctr-backend", "tde-sm4-backend", "keys", "value-size", "duration", "cache-size", "concurrency", "scan-length", "read-percent", "fs"}

// Gate compares the overheads of current with those of baseline.
func Gate(baseline, current *OverheadFile, opt GateOptions) (*GateResult, error) {
	if opt.Alpha == 0 {
		opt.Alpha = benchmath.DefaultThresholds.CompareAlpha
	}
	if opt.Unit == "" {
		opt.Unit = UnitOverhead
	}
	if opt.Threshold < 0 || math.IsNaN(opt.Threshold) {
		return nil, fmt.Errorf("gate: threshold %v, want 0 or more percentage points", opt.Threshold)
	}
	if opt.Alpha <= 0 || opt.Alpha >= 1 {
		return nil, fmt.Errorf("gate: alpha %v, want between 0 and 1", opt.Alpha)
	}
	g := &GateResult{Options: opt, Baseline: baseline.Name, Current: current.Name}
	var pairs []Pair
	for p := range baseline.Samples {
		if _, ok := current.Samples[p]; ok {
			pairs = append(pairs, p)
		} else {
			g.Unmatched = append(g.Unmatched, fmt.Sprintf("%s only in %s", p, baseline.Name))
		}
	}
	for p := range current.Samples {
		if _, ok := baseline.Samples[p]; !ok {
			g.Unmatched = append(g.Unmatched, fmt.Sprintf("%s only in %s", p, current.Name))
		}
	}
	slices.Sort(g.Unmatched)
	if len(pairs) == 0 {
		return g, fmt.Errorf("%w (%s has %d, %s has %d)", ErrNothingToCompare, baseline.Name, len(baseline.Samples), current.Name, len(current.Samples))
	}
	slices.SortFunc(pairs, func(a, b Pair) int {
		return cmp.Or(cmpWorkload(Workload(a.Workload), Workload(b.Workload)), cmp.Compare(methodRank(a.Method), methodRank(b.Method)), cmp.Compare(a.Method, b.Method))
	})
	g.PairAlpha = opt.Alpha / float64(len(pairs))
	var few []string
	for _, p := range pairs {
		b, n := baseline.Samples[p], current.Samples[p]
		bu, nu := baseline.Units(p), current.Units(p)
		var v Verdict
		if len(bu) < len(b) || len(nu) < len(n) {
			// Builds: their centers, Student's t test. The baseline's
			// units give the spread a run's are judged by.
			if len(bu) < minUnits {
				few = append(few, fmt.Sprintf("%s (%d+%d units, builds of runs; %d needed in the baseline)", p, len(bu), len(nu), minUnits))
				continue
			}
			bc, bn := buildCenters(bu)
			nc, nn := buildCenters(nu)
			v = Verdict{Pair: p, Baseline: centersInterval(bc, bn), Current: centersInterval(nc, nn), P: studentGreater(nc, bc)}
		} else {
			// Rounds: their medians, the U test (benchmath sorts them in
			// place; the files keep their rounds' order for Units).
			b, n = slices.Clone(b), slices.Clone(n)
			if minP(len(b), len(n)) >= g.PairAlpha {
				few = append(few, fmt.Sprintf("%s (%d+%d rounds; %d needed)", p, len(b), len(n), roundsNeeded(g.PairAlpha)))
				continue
			}
			v = Verdict{Pair: p, Baseline: medianInterval(b), Current: medianInterval(n), P: pGreater(n, b)}
		}
		v.Change = v.Current.Median - v.Baseline.Median
		v.Regressed = v.P < g.PairAlpha && v.Change > opt.Threshold
		g.Verdicts = append(g.Verdicts, v)
	}
	if len(few) > 0 {
		return g, fmt.Errorf("%w: with %d pairs compared, each is tested at alpha %.2g, which these cannot reach: %s; run more rounds or builds on both sides",
			ErrTooFewRounds, len(pairs), g.PairAlpha, strings.Join(few, ", "))
	}
	for _, k := range gateSettings {
		if a, b := baseline.Config[k], current.Config[k]; a != b {
			g.Differ = append(g.Differ, fmt.Sprintf("%s: %q in %s, %q in %s", k, a, baseline.Name, b, current.Name))
		}
	}
	return g, nil
}

// pGreater is the one-sided p-value of a Mann-Whitney U test that n is
// stochastically greater than b. benchmath gives the two-sided p; the U
// distribution is symmetric, so the one-sided p is half of it in the
// direction the medians point, and 1 − half the other way.
func pGreater(n, b []float64) float64 {
	th := &benchmath.DefaultThresholds
	sb, sn := benchmath.NewSample(b, th), benchmath.NewSample(n, th)
	p := benchmath.AssumeNothing.Compare(sb, sn).P / 2
	if benchmath.AssumeNothing.Summary(sn, Confidence).Center > benchmath.AssumeNothing.Summary(sb, Confidence).Center {
		return p
	}
	return 1 - p
}

// minP is the smallest one-sided p-value the U test can give for samples
// of these sizes: that of two samples that do not overlap at all.
func minP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	a, b := make([]float64, n1), make([]float64, n2)
	for i := range a {
		a[i] = float64(n2 + i)
	}
	for i := range b {
		b[i] = float64(i)
	}
	return pGreater(a, b)
}

// roundsNeeded is the fewest rounds per side with which the U test can
// reach alpha.
func roundsNeeded(alpha float64) int {
	n := 2
	for n < 50 && minP(n, n) >= alpha {
		n++
	}
	return n
}

// studentGreater is the one-sided p-value of Student's t test that the
// mean of n is greater than that of b, their variances pooled: the units
// of both sides come from the same command on like machines, so they
// scatter alike, and the pooled spread lets a run of one unit (one
// process, one build) be judged against a baseline of many.
func studentGreater(n, b []float64) float64 {
	mn, vn := stat.MeanVariance(n, nil)
	mb, vb := stat.MeanVariance(b, nil)
	nn, nb := float64(len(n)), float64(len(b))
	if len(n) < 2 {
		vn = 0
	}
	df := nn + nb - 2
	sp := math.Sqrt(((nn-1)*vn + (nb-1)*vb) / df)
	se := sp * math.Sqrt(1/nn+1/nb)
	if se == 0 {
		if mn > mb {
			return 0
		}
		return 1
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival((mn - mb) / se)
}

// WriteReport prints the gate's findings: a line per workload and method,
// then every regression spelled out.
func (g *GateResult) WriteReport(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "gate: %s of %s against %s: fail where it rose significantly and by more than %.1f percentage points\n", g.Options.Unit, g.Current, g.Baseline, g.Options.Threshold)
	fmt.Fprintf(bw, "      significance: one-sided U test on rounds (Student t on builds) at alpha %v over %d pairs (%.2g each)\n", g.Options.Alpha, len(g.Verdicts), g.PairAlpha)
	for _, d := range g.Differ {
		fmt.Fprintf(bw, "warning: settings differ: %s\n", d)
	}
	for _, u := range g.Unmatched {
		fmt.Fprintf(bw, "note: %s\n", u)
	}
	fmt.Fprintf(bw, "%-11s %-11s %-28s %-28s %9s %7s  %s\n", "workload", "method", "baseline (95% CI)", "now (95% CI)", "change", "p", "verdict")
	for _, v := range g.Verdicts {
		verdict := "ok"
		if v.Regressed {
			verdict = "REGRESSION"
		}
		fmt.Fprintf(bw, "%-11s %-11s %-28s %-28s %+8.1fpp %7.3f  %s\n", v.Pair.Workload, v.Pair.Method,
			formatInterval(v.Baseline), formatInterval(v.Current), v.Change, v.P, verdict)
	}
	regs := g.Regressions()
	for _, v := range regs {
		fmt.Fprintf(bw, "REGRESSION: %s in %s: overhead %s -> %s, up %.1f percentage points (threshold %.1f, p=%.2g, %d+%d rounds)\n",
			v.Pair.Method, v.Pair.Workload, formatInterval(v.Baseline), formatInterval(v.Current), v.Change, g.Options.Threshold, v.P, v.Baseline.N, v.Current.N)
	}
	if len(regs) == 0 {
		fmt.Fprintf(bw, "PASS: no significant rise of more than %.1f points in %d workload/method pairs\n", g.Options.Threshold, len(g.Verdicts))
	} else {
		fmt.Fprintf(bw, "FAIL: %d of %d workload/method pairs regressed\n", len(regs), len(g.Verdicts))
	}
	return bw.Flush()
}

// ParseThreshold reads a threshold in percentage points: "3%", "3" or
// "3pp".
func ParseThreshold(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "%"), "pp")
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("threshold %q: want percentage points of overhead such as 3%%", s)
	}
	return v, nil
}
