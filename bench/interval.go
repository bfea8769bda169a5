package bench

import (
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is a center and its confidence interval. Lo and Hi are nil
// where there are too few samples for the confidence level (fewer than 6
// at 95%).
//
// For overheads (Summary.Overhead, Summary.CPUOverhead) the center is the
// Hodges-Lehmann estimate (see overheadInterval) or, where the rounds ran
// on several builds of the stores, the mean of the builds' (Builds > 0,
// buildInterval), reported in the JSON field "median" as before; for the
// gate's verdicts it is the median (medianInterval).
type Interval struct {
	Median     float64  `json:"median"`
	Lo         *float64 `json:"lo"`
	Hi         *float64 `json:"hi"`
	Confidence float64  `json:"confidence"`
	N          int      `json:"n"`
	// Builds is the number of builds the interval was taken over
	// (buildInterval); 0 where it was taken over rounds.
	Builds int `json:"builds,omitempty"`
}

// Bounded reports whether the interval has finite bounds.
func (iv Interval) Bounded() bool { return iv.Lo != nil && iv.Hi != nil }

// Confidence is the confidence level of every interval this package
// reports.
const Confidence = 0.95

// medianInterval is the median of vals and its confidence interval as
// benchmath (and so benchstat) computes it: distribution-free, from order
// statistics.
func medianInterval(vals []float64) Interval {
	if len(vals) == 0 {
		return Interval{}
	}
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(vals, &benchmath.DefaultThresholds), Confidence)
	iv := Interval{Median: s.Center, Confidence: s.Confidence, N: len(vals)}
	if !math.IsInf(s.Lo, 0) && !math.IsNaN(s.Lo) {
		iv.Lo = &s.Lo
	}
	if !math.IsInf(s.Hi, 0) && !math.IsNaN(s.Hi) {
		iv.Hi = &s.Hi
	}
	return iv
}

// overheadInterval summarizes per-round overheads, in percent, by the
// Hodges-Lehmann estimate of their center (the median of every pairwise
// mean, self-pairs included) and its confidence interval from the
// Wilcoxon signed-rank distribution, taken on the log of the ratios
// (1 + v/100), where a slowdown and the matching speed-up weigh the same.
// Like the median it is moved by one rank, not by its size, by a round a
// neighbour spoiled; unlike the median it uses every round's value, not
// only its rank, and so needs about two thirds of the rounds for the same
// width (asymptotic efficiency 0.95 against the median's 0.64, normal
// data). It assumes the log ratios spread symmetrically about their
// center; bench/README.md shows how far the published runs' do.
func overheadInterval(vals []float64) Interval {
	n := len(vals)
	if n == 0 {
		return Interval{}
	}
	walsh := walshAverages(logRatios(vals))
	m := len(walsh)
	iv := Interval{Median: pctOfLog(median(walsh)), Confidence: Confidence, N: n}
	if k := signedRankCut(n, 1-Confidence); k > 0 {
		lo, hi := pctOfLog(walsh[k-1]), pctOfLog(walsh[m-k])
		iv.Lo, iv.Hi = &lo, &hi
	}
	return iv
}

// buildInterval summarizes per-round overheads, in percent, grouped by the
// build of the stores they ran on: the mean over builds of each build's
// Hodges-Lehmann center (on the log of the ratios, as overheadInterval),
// with the Student t interval of that mean (builds − 1 degrees of
// freedom). A store can keep its own speed offset for as long as it
// lives (bench/README.md, "Builds"), so the rounds of one build share an
// error that no number of rounds averages away: only the spread between
// builds measures it, and with the rounds' own noise it is all that
// spread holds. Two builds give an
// interval, but a wide one (t = 12.7); it narrows with the builds, not
// with the rounds.
func buildInterval(byBuild [][]float64) Interval {
	return centersInterval(buildCenters(byBuild))
}

// centersInterval is buildInterval from the builds' centers (on the log
// of the ratios) and the number of rounds they hold.
func centersInterval(centers []float64, n int) Interval {
	if len(centers) == 0 {
		return Interval{}
	}
	mean, sd := stat.MeanStdDev(centers, nil)
	iv := Interval{Median: pctOfLog(mean), Confidence: Confidence, N: n, Builds: len(centers)}
	if b := len(centers); b >= 2 {
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(b - 1)}.Quantile(1 - (1-Confidence)/2)
		half := t * sd / math.Sqrt(float64(b))
		lo, hi := pctOfLog(mean-half), pctOfLog(mean+half)
		iv.Lo, iv.Hi = &lo, &hi
	}
	return iv
}

// buildCenters is each non-empty build's Hodges-Lehmann center, on the
// log of the ratios, and the number of rounds they hold.
func buildCenters(byBuild [][]float64) (centers []float64, n int) {
	for _, vals := range byBuild {
		if len(vals) == 0 {
			continue
		}
		n += len(vals)
		centers = append(centers, median(walshAverages(logRatios(vals))))
	}
	return centers, n
}

// logRatios turns overheads in percent into the logs of the ratios they
// stand for, log(1 + v/100), where a slowdown and the matching speed-up
// weigh the same.
func logRatios(vals []float64) []float64 {
	l := make([]float64, len(vals))
	for i, v := range vals {
		l[i] = math.Log1p(v / 100)
	}
	return l
}

// pctOfLog is logRatios' inverse for one value.
func pctOfLog(x float64) float64 { return math.Expm1(x) * 100 }

// median is the median of sorted values, the mean of the middle two for
// an even count.
func median(sorted []float64) float64 {
	n := len(sorted)
	return (sorted[(n-1)/2] + sorted[n/2]) / 2
}

// walshAverages is every pairwise mean of l, self-pairs included, sorted:
// their median is the Hodges-Lehmann estimate.
func walshAverages(l []float64) []float64 {
	n := len(l)
	walsh := make([]float64, 0, n*(n+1)/2)
	for i := range l {
		for j := i; j < n; j++ {
			walsh = append(walsh, (l[i]+l[j])/2)
		}
	}
	slices.Sort(walsh)
	return walsh
}

// signedRankCut is how many Walsh averages the interval leaves out at
// each end: the largest k with P(T < k) ≤ alpha/2, T the Wilcoxon signed-
// rank statistic of n samples; 0 if even k = 1 is too likely (n < 6 at
// alpha 0.05). The distribution is exact up to 100 samples (counts of the
// subsets of 1…n by their sum, O(n³): 13 ms at 300, and a report cuts
// once per workload, method and metric), the normal approximation
// beyond, which is within 2 of the exact cut there and on the wide side.
func signedRankCut(n int, alpha float64) int {
	if n > 100 {
		mu := float64(n) * float64(n+1) / 4
		sd := math.Sqrt(float64(n) * float64(n+1) * float64(2*n+1) / 24)
		// P(T < k) = P(T ≤ k−1) ≈ Φ((k − 1 + 0.5 − μ)/σ).
		z := -math.Sqrt2 * math.Erfinv(1-alpha)
		return int(math.Floor(mu + z*sd + 0.5))
	}
	m := n * (n + 1) / 2
	p := make([]float64, m+1) // p[s]: P(T = s), built one rank at a time
	p[0] = 1
	for r := 1; r <= n; r++ {
		for s := m; s >= r; s-- {
			p[s] = (p[s] + p[s-r]) / 2
		}
		for s := r - 1; s >= 0; s-- {
			p[s] /= 2
		}
	}
	k, cum := 0, 0.0
	for k < m && cum+p[k] <= alpha/2 {
		cum += p[k]
		k++
	}
	return k
}
