package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// WriteMarkdown writes the report as a Markdown table, one row per
// workload and method: medians over rounds of ops/s, MB/s, CPU s/GB and
// p99, and the overheads against plaintext (overheadInterval) with their
// 95% confidence intervals. This is what `tdebench run` prints and results/…/README.md
// holds.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "| workload | method | ops/s | MB/s | CPU s/GB | p99 | overhead (95% CI) | CPU overhead (95% CI) |")
	fmt.Fprintln(bw, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	unbounded := false
	for _, s := range r.Summaries {
		ov, cv := "baseline", "baseline"
		if s.Method != MethodPlaintext {
			ov, cv = "n/a", "n/a"
			if s.Overhead != nil {
				ov = formatInterval(*s.Overhead)
				unbounded = unbounded || !s.Overhead.Bounded()
			}
			if s.CPUOverhead != nil {
				cv = formatInterval(*s.CPUOverhead)
			}
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Workload, s.Method, formatSI(s.OpsPerSec), formatFixed(s.MBPerSec), formatFixed(s.CPUSecPerGB),
			formatDuration(s.P99), ov, cv)
	}
	fmt.Fprintln(bw)
	fmt.Fprintf(bw, "Medians over %s. Overhead: extra time per operation against plaintext in the same round, (plaintext ops/s ÷ method ops/s − 1) × 100; CPU overhead: the same for CPU s/GB; each the Hodges-Lehmann center of the rounds' overheads, with its 95%% confidence interval (Wilcoxon signed-rank).", r.Settings.roundsBuildsText())
	if r.Settings.Builds > 1 {
		fmt.Fprintf(bw, " Workloads on preloaded stores ran on %d builds of the stores, each made afresh in a rotated order: their center is the mean of the builds' Hodges-Lehmann centers, their interval Student's t over the builds, which holds the speed a store keeps for its life as well as the rounds' noise.", r.Settings.Builds)
	}
	if unbounded {
		fmt.Fprintf(bw, " A confidence interval needs at least 6 rounds; \"[?]\" marks a center with too few.")
	}
	fmt.Fprintln(bw)
	return bw.Flush()
}

// WriteMarkdownHeader writes the lines that say where and how a run was
// measured, for the results directory's README.
func (r *Report) WriteMarkdownHeader(w io.Writer) error {
	e, s := r.Env, r.Settings
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# tdebench: encryption overhead on Pebble, %s\n\n", e.Date.Format("2006-01-02"))
	fmt.Fprintf(bw, "- machine: %s, %d logical cores (GOMAXPROCS %d), %s/%s, %s\n", e.CPU, e.Cores, e.GOMAXPROCS, e.GOOS, e.GOARCH, e.Kernel)
	fmt.Fprintf(bw, "- build: %s, Pebble %s, tde %s; kernels: AES-CTR %s, SM4-CTR %s\n", e.Go, orUnknown(e.Pebble), orUnknown(shortRev(e.Revision)), e.CTRBackend, e.SM4Backend)
	if e.FIPS140 != "" {
		fmt.Fprintf(bw, "- Go's FIPS 140-3 mode: %s (AES-CTR from the standard library's module; sm4-ctr refused)\n", e.FIPS140)
	}
	fs := s.FS
	if fs == "" {
		fs = "disk"
	}
	builds := ""
	if s.Builds > 1 {
		builds = fmt.Sprintf("; the preloaded stores made %d times (builds), in a rotated order", s.Builds)
	}
	fmt.Fprintf(bw, "- run: %s × %s × %s, one slice per method per round in a fresh random order%s; slices of about %v (plaintext's); stores on %s; %d keys of 16 B preloaded, values of %d B; block cache %s; concurrency %d; scans of %d; mixed %d%% reads; seed %d\n",
		s.roundsText(), strings.Join(s.Workloads, ", "), strings.Join(s.Methods, ", "), builds, s.Duration, fs, s.Keys, s.ValueSize, FormatSize(s.CacheSize), s.Concurrency, s.ScanLength, s.ReadPercent, s.Seed)
	for _, n := range s.Notes {
		fmt.Fprintf(bw, "- %s\n", n)
	}
	if s.Delay != "" {
		fmt.Fprintf(bw, "- injected delay (testing aid, not a real result): %s\n", s.Delay)
	}
	fmt.Fprintf(bw, "- date: %s\n\n", e.Date.Format(time.RFC3339))
	return bw.Flush()
}

func formatInterval(iv Interval) string {
	if !iv.Bounded() {
		return fmt.Sprintf("%s [?]", formatPct(iv.Median))
	}
	return fmt.Sprintf("%s [%s, %s]", formatPct(iv.Median), formatPct(*iv.Lo), formatPct(*iv.Hi))
}

func formatPct(v float64) string {
	if math.Abs(v) < 0.05 {
		return "0.0%"
	}
	return fmt.Sprintf("%+.1f%%", v)
}

// formatSI prints a count with a k or M suffix: 412k, 1.25M.
func formatSI(v float64) string {
	switch a := math.Abs(v); {
	case a >= 10e6:
		return fmt.Sprintf("%.0fM", v/1e6)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 10e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func formatFixed(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// formatDuration prints a latency with three significant digits: 1.25µs.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return trim3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trim3(float64(d)/1e6) + "ms"
	}
	return trim3(d.Seconds()) + "s"
}

func trim3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func shortRev(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
