package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/bench"
)

func newGateCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		f         runFlags
		baseline  string
		current   string
		threshold string
		alpha     float64
		metric    string
		runNow    bool
		save      string
	)
	cmd := &cobra.Command{
		Use:   "gate --baseline FILE (--current FILE | --run [run flags])",
		Short: "Fail on a significant rise of encryption overhead against a baseline",
		Long: `gate compares the per-round overheads of a run with those of a committed
baseline, for every workload and method the two share, and exits 1 if any
rose significantly by more than the threshold. It compares overheads
(each method against plaintext of the same round), not times: CI machines
differ, the price of encryption relative to plaintext much less.

--threshold is in percentage points of overhead: with 3%, a method whose
overhead in a workload was 5% (5% slower than plaintext) fails the gate if
it is now significantly above 8%.

"Significantly": a one-sided Mann-Whitney U test (golang.org/x/perf/
benchmath, no assumption about the distribution) finds the run's per-round
overheads above the baseline's shifted up by the threshold, at --alpha
divided by the number of (workload, method) pairs compared (Bonferroni:
--alpha is the chance that an unchanged build fails the gate anywhere, not
in each pair); and the median rose by more than the threshold. Noise alone
does not fail the gate, it only raises the smallest rise the gate can see.
--metric time,cpu gates both overheads, each at --alpha / 2 (make gate:
the CPU overhead stays narrow when neighbours widen the time overhead).
Too few rounds for the test to ever reach its level is an error (exit 2),
not a pass.

Every regression is printed with its method, workload, and the baseline
and current overheads with their 95% confidence intervals.

Exit status: 0 no regression; 1 a regression; 2 the files cannot be
compared (no (workload, method) in common, too few rounds, bad input).

The baseline is a pebble.txt from tdebench run --benchfmt or --out, with
the same settings as the run (gate warns if they differ):
  tdebench run --short --benchfmt results/baseline.txt`,
		Example: `  tdebench gate --baseline results/baseline.txt --current new.txt
  tdebench gate --baseline results/baseline.txt --metric time,cpu --threshold 2% --run --short --workloads fillrandom,readrandom,scan --rounds 32   # CI (make gate)
  tdebench gate --baseline results/baseline.txt --run --short --inject-delay aes128-ctr=20us   # see it fail`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if current != "" {
					return &exitError{2, errors.New("give the run as --current or as an argument, not both")}
				}
				current = args[0]
			}
			if baseline == "" {
				return &exitError{2, errors.New("--baseline is required")}
			}
			if (current == "") == !runNow {
				return &exitError{2, errors.New("give either --current FILE (or a file argument) or --run")}
			}
			th, err := bench.ParseThreshold(threshold)
			if err != nil {
				return &exitError{2, fmt.Errorf("--threshold: %w", err)}
			}
			var units []string
			for _, m := range strings.Split(metric, ",") {
				switch strings.TrimSpace(m) {
				case "time":
					units = append(units, bench.UnitOverhead)
				case "cpu":
					units = append(units, bench.UnitCPUOverhead)
				default:
					return &exitError{2, fmt.Errorf("--metric %q: want time, cpu or time,cpu", metric)}
				}
			}
			var run []byte // the benchmark file of --run
			if runNow {
				c, err := f.config(cmd.Flags())
				if err != nil {
					return &exitError{2, err}
				}
				r, err := benchmark(cmd.Context(), c, stderr)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				if err := r.WriteBenchfmt(&buf); err != nil {
					return err
				}
				if save != "" {
					if err := os.WriteFile(save, buf.Bytes(), 0o644); err != nil {
						return err
					}
				}
				run = buf.Bytes()
			}
			// Each metric is a gate of its own, at alpha divided by the
			// number of metrics: alpha stays the chance that an unchanged
			// build fails anywhere.
			failed := 0
			for i, unit := range units {
				base, err := readOverheads(baseline, unit)
				if err != nil {
					return &exitError{2, err}
				}
				var cur *bench.OverheadFile
				if run != nil {
					if cur, err = bench.ReadOverheads(bytes.NewReader(run), "this run", unit); err != nil {
						return err
					}
				} else if cur, err = readOverheads(current, unit); err != nil {
					return &exitError{2, err}
				}
				g, err := bench.Gate(base, cur, bench.GateOptions{Threshold: th, Alpha: alpha / float64(len(units)), Unit: unit})
				if err != nil {
					if g != nil && len(g.Unmatched) > 0 {
						for _, u := range g.Unmatched {
							fmt.Fprintln(stderr, "note:", u)
						}
					}
					return &exitError{2, err}
				}
				if i > 0 {
					fmt.Fprintln(stdout)
				}
				if err := g.WriteReport(stdout); err != nil {
					return err
				}
				failed += len(g.Regressions())
			}
			if failed > 0 {
				return &exitError{1, fmt.Errorf("gate failed: %d regression(s) beyond %.1f percentage points", failed, th)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&baseline, "baseline", "", "the baseline benchfmt file (such as results/baseline.txt)")
	fl.StringVar(&current, "current", "", "the run's benchfmt file (pebble.txt of tdebench run)")
	fl.StringVar(&threshold, "threshold", "3%", "tolerated rise of overhead, in percentage points (3% = from 5% to 8% slower than plaintext)")
	fl.Float64Var(&alpha, "alpha", 0.05, "significance level of the whole gate (each pair is tested at alpha / pairs)")
	fl.StringVar(&metric, "metric", "time", "overhead compared: time (extra time per operation), cpu (extra CPU per GB), or time,cpu (both, each at alpha/2)")
	fl.BoolVar(&runNow, "run", false, "run the benchmark now (with the run flags below) instead of reading --current")
	fl.StringVar(&save, "save", "", "with --run, write the run's benchfmt text to this file")
	f.register(fl)
	return cmd
}

func readOverheads(path, unit string) (*bench.OverheadFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return bench.ReadOverheads(fh, path, unit)
}
