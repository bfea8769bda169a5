package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSignedRankCut: the critical values of the Wilcoxon signed-rank test,
// two-sided at 0.05, from the standard tables (T ≤ critical rejects; the
// interval leaves out critical + 1 Walsh averages at each end).
func TestSignedRankCut(t *testing.T) {
	for n, crit := range map[int]int{6: 0, 7: 2, 8: 3, 9: 5, 10: 8, 15: 25, 20: 52, 25: 89, 30: 137} {
		if got := signedRankCut(n, 0.05); got != crit+1 {
			t.Errorf("n = %d: cut %d, want %d (table critical value %d)", n, got, crit+1, crit)
		}
	}
	for _, n := range []int{1, 2, 5} {
		if got := signedRankCut(n, 0.05); got != 0 {
			t.Errorf("n = %d: cut %d, want 0 (too few samples for 95%%)", n, got)
		}
	}
	// The exact distribution and the normal approximation meet where
	// one takes over from the other.
	if exact, approx := signedRankCut(100, 0.05), signedRankCut(101, 0.05); approx < exact || approx > exact+55 {
		t.Errorf("cut at 100 (exact) %d, at 101 (normal) %d: they should be close (μ grows by 50.5)", exact, approx)
	}
}

// TestOverheadInterval: hand-checked cases.
func TestOverheadInterval(t *testing.T) {
	pct := func(x float64) float64 { return math.Expm1(x) * 100 }
	// Log ratios 0.01…0.06: the center is their middle, 0.035, and with
	// six values the 95% interval spans every Walsh average.
	var vals []float64
	for i := 1; i <= 6; i++ {
		vals = append(vals, pct(float64(i)/100))
	}
	iv := overheadInterval(vals)
	if !iv.Bounded() || math.Abs(iv.Median-pct(0.035)) > 1e-9 || math.Abs(*iv.Lo-pct(0.01)) > 1e-9 || math.Abs(*iv.Hi-pct(0.06)) > 1e-9 || iv.N != 6 {
		t.Errorf("overheadInterval(%v) = %+v; want center %.4f in [%.4f, %.4f]", vals, iv, pct(0.035), pct(0.01), pct(0.06))
	}
	// One wild round moves the center by a rank, not by its size.
	vals[5] = 900
	if iv := overheadInterval(vals); iv.Median > pct(0.045) {
		t.Errorf("one outlier moved the center to %.2f%%", iv.Median)
	}
	if iv := overheadInterval(vals[:5]); iv.Bounded() || math.Abs(iv.Median-pct(0.03)) > 1e-9 {
		t.Errorf("five rounds: %+v; want center %.4f and no bounds", iv, pct(0.03))
	}
	if iv := overheadInterval([]float64{7, 7, 7, 7, 7, 7, 7}); math.Abs(iv.Median-7) > 1e-9 || math.Abs(*iv.Lo-7) > 1e-9 || math.Abs(*iv.Hi-7) > 1e-9 {
		t.Errorf("constant 7%%: %+v", iv)
	}
}

// TestOverheadIntervalCoverage: over many samples of 20 rounds drawn
// about a known center, the 95% interval holds the center about 95% of
// the time, and it is narrower than the median's interval on the same
// samples (the reason to use it).
func TestOverheadIntervalCoverage(t *testing.T) {
	const trials, n, center = 2000, 20, 3.0
	r := rand.New(rand.NewPCG(1, 2))
	logCenter := math.Log1p(center / 100)
	covered, hlWidth, medWidth := 0, 0.0, 0.0
	for range trials {
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.Expm1(logCenter+0.05*r.NormFloat64()) * 100
		}
		iv, mv := overheadInterval(vals), medianInterval(vals)
		if *iv.Lo <= center && center <= *iv.Hi {
			covered++
		}
		hlWidth += *iv.Hi - *iv.Lo
		medWidth += *mv.Hi - *mv.Lo
	}
	t.Logf("coverage %.1f%%, mean width %.2f against the median's %.2f", 100*float64(covered)/trials, hlWidth/trials, medWidth/trials)
	if c := float64(covered) / trials; c < 0.93 || c > 0.97 {
		t.Errorf("the 95%% interval held the center in %.1f%% of %d trials", 100*c, trials)
	}
	if hlWidth > 0.9*medWidth {
		t.Errorf("mean width %.2f points, the median's %.2f: want clearly narrower", hlWidth/trials, medWidth/trials)
	}
}

// TestBuildInterval: the center is the mean of the builds' centers, and
// the interval Student's t with builds − 1 degrees of freedom, checked
// against the t table's 4.303 (2 degrees of freedom, 97.5%).
func TestBuildInterval(t *testing.T) {
	byBuild := [][]float64{{1, 1, 1, 1}, {2, 2, 2}, {3, 3, 3, 3, 3}}
	l := []float64{math.Log1p(0.01), math.Log1p(0.02), math.Log1p(0.03)}
	mean := (l[0] + l[1] + l[2]) / 3
	sd := math.Sqrt(((l[0]-mean)*(l[0]-mean) + (l[1]-mean)*(l[1]-mean) + (l[2]-mean)*(l[2]-mean)) / 2)
	half := 4.303 * sd / math.Sqrt(3)
	iv := buildInterval(byBuild)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-3 }
	if !iv.Bounded() || iv.N != 12 || iv.Builds != 3 || !near(iv.Median, math.Expm1(mean)*100) ||
		!near(*iv.Lo, math.Expm1(mean-half)*100) || !near(*iv.Hi, math.Expm1(mean+half)*100) {
		t.Errorf("got %+v (lo %v hi %v), want center %.4f in [%.4f, %.4f]", iv, iv.Lo, iv.Hi,
			math.Expm1(mean)*100, math.Expm1(mean-half)*100, math.Expm1(mean+half)*100)
	}
	// A build's center is robust: one spoiled round moves it by a rank.
	spoiled := buildInterval([][]float64{{1, 1, 1, 90}, {2, 2, 2}, {3, 3, 3, 3, 3}})
	if !near(spoiled.Median, iv.Median) {
		t.Errorf("one spoiled round moved the center from %.3f to %.3f", iv.Median, spoiled.Median)
	}
	if one := buildInterval([][]float64{{1, 2, 3, 4, 5, 6, 7}}); one.Bounded() || one.Builds != 1 || math.Abs(one.Median-4) > 0.05 {
		t.Errorf("one build: %+v, want center 4 and no bounds", one)
	}
}

// TestBuildIntervalCoverage: when every build carries an offset of its
// own (as the stores do, bench/README.md), the interval over builds holds
// the true center about 95% of the time, and the interval over the pooled
// rounds, which takes the rounds of a build for independent, far less
// often: the reason for builds.
func TestBuildIntervalCoverage(t *testing.T) {
	const trials, builds, rounds, center = 2000, 6, 8, 3.0
	r := rand.New(rand.NewPCG(3, 4))
	logCenter := math.Log1p(center / 100)
	byBuild, pooled := 0, 0
	for range trials {
		groups := make([][]float64, builds)
		var all []float64
		for b := range groups {
			offset := 0.02 * r.NormFloat64()
			for range rounds {
				v := math.Expm1(logCenter+offset+0.03*r.NormFloat64()) * 100
				groups[b] = append(groups[b], v)
				all = append(all, v)
			}
		}
		if iv := buildInterval(groups); *iv.Lo <= center && center <= *iv.Hi {
			byBuild++
		}
		if iv := overheadInterval(all); *iv.Lo <= center && center <= *iv.Hi {
			pooled++
		}
	}
	cb, cp := float64(byBuild)/trials, float64(pooled)/trials
	t.Logf("coverage over builds %.1f%%, over pooled rounds %.1f%%", 100*cb, 100*cp)
	if cb < 0.93 || cb > 0.97 {
		t.Errorf("the interval over builds held the center in %.1f%% of %d trials", 100*cb, trials)
	}
	if cp > 0.8 {
		t.Errorf("the pooled interval held the center in %.1f%%: the simulated offsets are too small to matter", 100*cp)
	}
}
