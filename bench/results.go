package bench

import (
	"cmp"
	"slices"
	"time"
)

// Run is one measured run: one workload, one method, one round, on a fresh
// store.
type Run struct {
	Workload Workload `json:"workload"`
	Method   Method   `json:"method"`
	Round    int      `json:"round"` // from 1
	Order    int      `json:"order"` // position among the methods of its round and workload, from 1
	// Build is which making of the preloaded stores the run used, from 1,
	// and Made the store's place in the order that build made them in,
	// from 1; both 0 for a fill (see Config.Builds).
	Build int `json:"build,omitempty"`
	Made  int `json:"made,omitempty"`

	Ops    int64 `json:"ops"`
	Bytes  int64 `json:"bytes"`  // user data: keys plus values written or read
	Misses int64 `json:"misses"` // reads and scans that found nothing (0 unless broken)

	Wall time.Duration `json:"wall_ns"`
	// Foreground is the part of Wall the operations took; the rest is
	// the flush and compactions that end a writing slice.
	Foreground time.Duration `json:"foreground_ns,omitempty"`
	User       time.Duration `json:"user_ns"` // CPU, whole process
	Sys        time.Duration `json:"sys_ns"`
	// Helper is the CPU time of another process doing the method's work
	// during the run: the gocryptfs daemon; 0 for tde's methods.
	Helper  time.Duration `json:"helper_ns,omitempty"`
	Latency Latency       `json:"latency"`

	TableBytes  int64 `json:"table_bytes"`  // the store's sstables at the end
	CacheHits   int64 `json:"cache_hits"`   // block cache, during the run
	CacheMisses int64 `json:"cache_misses"` // block cache, during the run
}

// OpsPerSec is operations per second of wall time.
func (r Run) OpsPerSec() float64 { return float64(r.Ops) / r.Wall.Seconds() }

// MBPerSec is user data in MB (10^6 bytes) per second.
func (r Run) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Wall.Seconds() }

// CPUSecPerGB is user plus system CPU seconds (the process's, and a
// helper process's such as gocryptfs) per GB (10^9 bytes) of user data.
func (r Run) CPUSecPerGB() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return (r.User + r.Sys + r.Helper).Seconds() / (float64(r.Bytes) / 1e9)
}

// Overhead is what one encrypted run cost over the plaintext run of the
// same workload and round.
type Overhead struct {
	Workload Workload `json:"workload"`
	Method   Method   `json:"method"`
	Round    int      `json:"round"`
	Build    int      `json:"build,omitempty"` // the run's Build
	// Time is the extra wall time per operation, in percent:
	// (plaintext ops/s ÷ method ops/s − 1) × 100. 10 means the method
	// takes 10% longer per operation; 0, no cost.
	Time float64 `json:"time_pct"`
	// CPU is the extra CPU per byte, in percent: (method CPU s/GB ÷
	// plaintext CPU s/GB − 1) × 100; 0 where CPU time is not measured.
	CPU float64 `json:"cpu_pct"`
}

// Overheads pairs every encrypted run with the plaintext run of the same
// workload and round, and returns one Overhead for each, in canonical
// order (workload, method, round). Runs with no plaintext partner are left
// out.
func Overheads(runs []Run) []Overhead {
	type wr struct {
		w     Workload
		round int
	}
	base := map[wr]Run{}
	for _, r := range runs {
		if r.Method == MethodPlaintext {
			base[wr{r.Workload, r.Round}] = r
		}
	}
	var out []Overhead
	for _, r := range runs {
		if r.Method == MethodPlaintext {
			continue
		}
		p, ok := base[wr{r.Workload, r.Round}]
		if !ok || r.Ops == 0 || p.Ops == 0 {
			continue
		}
		o := Overhead{Workload: r.Workload, Method: r.Method, Round: r.Round, Build: r.Build,
			Time: (p.OpsPerSec()/r.OpsPerSec() - 1) * 100}
		if pc, rc := p.CPUSecPerGB(), r.CPUSecPerGB(); pc > 0 && rc > 0 {
			o.CPU = (rc/pc - 1) * 100
		}
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b Overhead) int {
		return cmp.Or(cmpWorkload(a.Workload, b.Workload), cmp.Compare(a.Method, b.Method), cmp.Compare(a.Round, b.Round))
	})
	return out
}

// Summary is one workload and method over every round: the median of each
// figure, and the overheads with their confidence intervals.
type Summary struct {
	Workload    Workload      `json:"workload"`
	Method      Method        `json:"method"`
	Rounds      int           `json:"rounds"`
	OpsPerSec   float64       `json:"ops_per_sec"`
	MBPerSec    float64       `json:"mb_per_sec"`
	CPUSecPerGB float64       `json:"cpu_sec_per_gb"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	P999        time.Duration `json:"p999_ns"`
	// Overhead and CPUOverhead are nil for plaintext, the baseline.
	Overhead    *Interval `json:"overhead_pct,omitempty"`
	CPUOverhead *Interval `json:"cpu_overhead_pct,omitempty"`
}

// Summaries summarizes runs and their overheads per workload and method,
// in canonical order.
func Summaries(runs []Run, overheads []Overhead) []Summary {
	type wm struct {
		w Workload
		m Method
	}
	byKey := map[wm][]Run{}
	var order []wm
	for _, r := range runs {
		k := wm{r.Workload, r.Method}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	slices.SortFunc(order, func(a, b wm) int { return cmp.Or(cmpWorkload(a.w, b.w), cmp.Compare(a.m, b.m)) })
	var out []Summary
	for _, k := range order {
		rs := byKey[k]
		med := func(f func(Run) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return medianInterval(v).Median
		}
		s := Summary{
			Workload: k.w, Method: k.m, Rounds: len(rs),
			OpsPerSec:   med(Run.OpsPerSec),
			MBPerSec:    med(Run.MBPerSec),
			CPUSecPerGB: med(Run.CPUSecPerGB),
			P50:         time.Duration(med(func(r Run) float64 { return float64(r.Latency.P50) })),
			P99:         time.Duration(med(func(r Run) float64 { return float64(r.Latency.P99) })),
			P999:        time.Duration(med(func(r Run) float64 { return float64(r.Latency.P999) })),
		}
		var os []Overhead
		for _, o := range overheads {
			if o.Workload == k.w && o.Method == k.m {
				os = append(os, o)
			}
		}
		if len(os) > 0 {
			t := summarizeOverheads(os, func(o Overhead) float64 { return o.Time })
			c := summarizeOverheads(os, func(o Overhead) float64 { return o.CPU })
			s.Overhead, s.CPUOverhead = &t, &c
		}
		out = append(out, s)
	}
	return out
}

// summarizeOverheads is the center and interval of one workload and
// method's overheads (f picks time or CPU): over builds (buildInterval)
// where the rounds ran on more than one build of the stores, over rounds
// (overheadInterval) otherwise.
func summarizeOverheads(os []Overhead, f func(Overhead) float64) Interval {
	var builds []int
	byBuild := map[int][]float64{}
	all := make([]float64, len(os))
	for i, o := range os {
		if _, ok := byBuild[o.Build]; !ok {
			builds = append(builds, o.Build)
		}
		byBuild[o.Build] = append(byBuild[o.Build], f(o))
		all[i] = f(o)
	}
	if len(builds) < 2 {
		return overheadInterval(all)
	}
	slices.Sort(builds)
	groups := make([][]float64, len(builds))
	for i, b := range builds {
		groups[i] = byBuild[b]
	}
	return buildInterval(groups)
}

// Report is everything one benchmark produced: where and how it ran, every
// run, the overheads and their summaries, and the cipher kernels if they
// were measured. It is what results.json holds.
type Report struct {
	Env       Env            `json:"env"`
	Settings  Settings       `json:"settings"`
	Runs      []Run          `json:"runs"`
	Overheads []Overhead     `json:"overheads"`
	Summaries []Summary      `json:"summaries"`
	Cipher    []CipherResult `json:"cipher,omitempty"`
}

// NewReport computes the overheads and summaries of runs.
func NewReport(env Env, s Settings, runs []Run) *Report {
	o := Overheads(runs)
	return &Report{Env: env, Settings: s, Runs: runs, Overheads: o, Summaries: Summaries(runs, o)}
}

// cmpWorkload orders workloads as Workloads lists them, unknown ones last.
func cmpWorkload(a, b Workload) int {
	rank := func(w Workload) int {
		if i := slices.Index(Workloads(), w); i >= 0 {
			return i
		}
		return len(Workloads())
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
}
