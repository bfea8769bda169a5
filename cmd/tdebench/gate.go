package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
		extend    int
	)
	cmd := &cobra.Command{
		Use:   "gate --baseline FILE (--current FILE | --run [run flags])",
		Short: "Fail on a significant rise of encryption overhead against a baseline",
		Long: `gate compares the overheads of a run with those of a committed baseline,
for every workload and method the two share, and exits 1 if any rose
significantly and by more than the threshold. It compares overheads
(each method against plaintext of the same round), not times: CI
machines differ, the price of encryption relative to plaintext much less.

--threshold is in percentage points of overhead: with 2%, a method whose
overhead in a workload was 5% (5% slower than plaintext) fails the gate if
it is now surely higher, and above 7%.

"Surely higher", for reads: a one-sided Student t test finds the run's
mean overhead above the baseline's, at --alpha divided by the number of
(workload, method) pairs compared (Bonferroni: --alpha is the chance
that an unchanged build fails the gate anywhere, not in each pair). Its
units are the builds of the stores (--builds), each run's apart (a file
can hold several runs one after another, as make baseline's does): the
rounds of one build share their stores' speed for its life, so only the
spread between builds says how sure a mean is, and the baseline's
builds give that spread. For fills, whose every round writes a store of
its own, a one-sided Mann-Whitney U test on the rounds. Noise alone
does not fail the gate, it only raises the smallest rise the gate can
see.
--metric time,cpu gates both overheads, each at --alpha / 2.
A baseline of fewer than 3 builds for a read is an error (exit 2), not
a pass.

--extend N (with --run): when no pair failed but one rose past the
threshold without reaching significance, run again, up to N times, and
decide on all the runs' builds (or rounds). An unchanged build seldom
rises past the threshold, so it seldom pays for a second run; a rise
that a noisy run hid gets the builds to show it.

Every regression is printed with its method, workload, and the baseline
and current overheads with their 95% confidence intervals.

Exit status: 0 no regression; 1 a regression; 2 the files cannot be
compared (no (workload, method) in common, too few units, bad input).

The baseline is a pebble.txt from tdebench run --benchfmt or --out, with
the same settings as the run, save the rounds and builds (gate warns if
they differ); make baseline records CI's.`,
		Example: `  tdebench gate --baseline results/baseline.txt --current new.txt
  tdebench gate --baseline results/baseline.txt --metric time,cpu --threshold 2% --alpha 0.025 --extend 1 --run --short --memfs --duration 25ms --workloads readrandom,scan --rounds 256 --builds 8   # CI (make gate: its reads)
  tdebench gate --baseline results/baseline.txt --run --short --memfs --duration 25ms --workloads readrandom --rounds 32 --builds 4 --inject-delay aes128-ctr=20us   # see it fail`,
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
			var c bench.Config
			if runNow {
				if c, err = f.config(cmd.Flags()); err != nil {
					return &exitError{2, err}
				}
			} else if extend > 0 {
				return &exitError{2, errors.New("--extend needs --run")}
			}
			var run []byte // the benchmark files of --run, one after another
			for runs := 1; ; runs++ {
				if runNow {
					r, err := benchmark(cmd.Context(), c, stderr)
					if err != nil {
						return err
					}
					var buf bytes.Buffer
					if err := r.WriteBenchfmt(&buf); err != nil {
						return err
					}
					run = append(run, buf.Bytes()...)
					if save != "" {
						if err := os.WriteFile(save, run, 0o644); err != nil {
							return err
						}
					}
				}
				// Each metric is a gate of its own, at alpha divided by
				// the number of metrics: alpha stays the chance that an
				// unchanged build fails anywhere.
				gates, err := gateAll(baseline, current, run, units, bench.GateOptions{Threshold: th, Alpha: alpha / float64(len(units))}, stderr)
				if err != nil {
					return err
				}
				if doubt := doubtful(gates); runNow && runs <= extend && len(doubt) > 0 && regressions(gates) == 0 {
					fmt.Fprintf(stderr, "tdebench: %s rose by more than %.1f points, not significantly: running again, adding its rounds (%d of %d)\n",
						strings.Join(doubt, ", "), th, runs, extend)
					continue
				}
				for i, g := range gates {
					if i > 0 {
						fmt.Fprintln(stdout)
					}
					if err := g.WriteReport(stdout); err != nil {
						return err
					}
				}
				if failed := regressions(gates); failed > 0 {
					return &exitError{1, fmt.Errorf("gate failed: %d regression(s) beyond %.1f percentage points", failed, th)}
				}
				break
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
	fl.IntVar(&extend, "extend", 0, "with --run, when no pair regressed but one rose by more than the threshold without reaching significance, run again up to this many times, adding the rounds, before deciding")
	f.register(fl)
	return cmd
}

// gateAll gates each unit (metric) of the current run (run, the
// benchmark files of the runs so far, one after another; or the file
// current)
// against baseline, each at opt.Alpha.
func gateAll(baseline, current string, run []byte, units []string, opt bench.GateOptions, stderr io.Writer) ([]*bench.GateResult, error) {
	var gates []*bench.GateResult
	for _, unit := range units {
		base, err := readOverheads(baseline, unit)
		if err != nil {
			return nil, &exitError{2, err}
		}
		var cur *bench.OverheadFile
		if run != nil {
			if cur, err = bench.ReadOverheads(bytes.NewReader(run), "this run", unit); err != nil {
				return nil, err
			}
		} else if cur, err = readOverheads(current, unit); err != nil {
			return nil, &exitError{2, err}
		}
		opt.Unit = unit
		g, err := bench.Gate(base, cur, opt)
		if err != nil {
			if g != nil {
				for _, u := range g.Unmatched {
					fmt.Fprintln(stderr, "note:", u)
				}
			}
			return nil, &exitError{2, err}
		}
		gates = append(gates, g)
	}
	return gates, nil
}

// regressions counts the gates' regressions.
func regressions(gates []*bench.GateResult) int {
	n := 0
	for _, g := range gates {
		n += len(g.Regressions())
	}
	return n
}

// doubtful names the pairs whose overhead rose by more than the
// threshold without the rise being significant: where more rounds could
// turn a pass into a failure.
func doubtful(gates []*bench.GateResult) []string {
	var out []string
	for _, g := range gates {
		for _, v := range g.Verdicts {
			if !v.Regressed && v.Change > g.Options.Threshold && !slices.Contains(out, v.Pair.String()) {
				out = append(out, v.Pair.String())
			}
		}
	}
	return out
}

func readOverheads(path, unit string) (*bench.OverheadFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return bench.ReadOverheads(fh, path, unit)
}
