package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/bench"
	"github.com/tde-go/tde/keys"
	"golang.org/x/perf/benchmath"
)

func newCipherCmd(stdout, stderr io.Writer) *cobra.Command {
	cc := bench.DefaultCipherConfig()
	var (
		methods  []string
		sizes    []string
		benchOut string
		raw      bool
	)
	cmd := &cobra.Command{
		Use:   "cipher",
		Short: "Measure the raw CTR kernels beside crypto/cipher and gmsm",
		Long: `cipher measures the encryption kernels alone: no files, no Pebble, one
buffer encrypted in place over and over on one goroutine. For every
method it runs tde's kernel (the one ctr or sm4 picked for this CPU) beside
the reference: crypto/cipher.NewCTR over crypto/aes for AES, gmsm's SM4
under crypto/cipher.NewCTR for SM4. Repetitions are interleaved; the table
shows medians in MB/s (10^6 bytes per second) and tde's speedup.

Only the kernel this CPU dispatches to is reachable from here; go test
-bench in ./ctr and ./sm4 (make bench-full) runs every kernel the CPU
supports.`,
		Example: `  tdebench cipher
  tdebench cipher --sizes 64B,4KiB,16KiB,1MiB --count 10
  tdebench cipher --benchfmt cipher.txt && go tool benchstat -col /impl cipher.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc.Methods = nil
			for _, s := range methods {
				m, err := keys.ParseMethod(s)
				if err != nil {
					return &exitError{2, fmt.Errorf("--methods: %w", err)}
				}
				cc.Methods = append(cc.Methods, m)
			}
			cc.Sizes = nil
			for _, s := range sizes {
				n, err := bench.ParseSize(s)
				if err != nil || n < 1 {
					return &exitError{2, fmt.Errorf("--sizes: %q: want sizes such as 64B,16KiB", s)}
				}
				cc.Sizes = append(cc.Sizes, int(n))
			}
			p := newProgress(stderr)
			cc.Progress = func(done, total int) {
				if p.bar != nil {
					p.bar.ChangeMax(total)
					_ = p.bar.Set(done)
				}
			}
			res, err := bench.BenchmarkCiphers(cmd.Context(), cc)
			p.finish()
			if err != nil {
				return err
			}
			env := bench.CurrentEnv()
			if benchOut != "" {
				if err := writeFile(benchOut, func(w io.Writer) error { return bench.WriteCipherBenchfmt(w, env, res) }); err != nil {
					return err
				}
			}
			if raw {
				return bench.WriteCipherBenchfmt(stdout, env, res)
			}
			return writeCipherTable(stdout, env, res)
		},
	}
	cmd.Flags().StringSliceVar(&methods, "methods", methodNames(keys.Methods()[1:]), "methods to measure, comma-separated")
	cmd.Flags().StringSliceVar(&sizes, "sizes", []string{"64B", "16KiB"}, "bytes per call, comma-separated (B, KiB, MiB)")
	cmd.Flags().IntVar(&cc.Count, "count", cc.Count, "repetitions of every measurement (6 give a 95% CI)")
	cmd.Flags().DurationVar(&cc.Duration, "duration", cc.Duration, "time per measurement")
	cmd.Flags().StringVar(&benchOut, "benchfmt", "", "also write the benchfmt text (cipher.txt) to this file")
	cmd.Flags().BoolVar(&raw, "raw", false, "print the benchfmt text instead of the table")
	return cmd
}

// writeCipherTable prints one row per method and size: the median MB/s of
// tde's kernel and of the reference, and the ratio.
func writeCipherTable(w io.Writer, env bench.Env, res []bench.CipherResult) error {
	fmt.Fprintf(w, "%s, %s %s/%s; AES-CTR kernel %s, SM4-CTR kernel %s\n\n", env.CPU, env.Go, env.GOOS, env.GOARCH, env.CTRBackend, env.SM4Backend)
	type key struct {
		m    keys.Method
		size int
		impl string
	}
	vals := map[key][]float64{}
	var order []key
	for _, r := range res {
		k := key{r.Method, r.Size, r.Impl}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = append(vals[k], r.MBPerSec)
	}
	med := func(k key) (float64, string) {
		v := vals[k]
		if len(v) == 0 {
			return 0, "-"
		}
		s := benchmath.AssumeNothing.Summary(benchmath.NewSample(v, &benchmath.DefaultThresholds), 0.95)
		return s.Center, fmt.Sprintf("%.0f ± %s", s.Center, s.PctRangeString())
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tsize\ttde MB/s\tkernel\treference MB/s\treference\tspeedup\t")
	seen := map[[2]int]bool{}
	for _, k := range order {
		if k.impl != "tde" || seen[[2]int{int(k.m), k.size}] {
			continue
		}
		seen[[2]int{int(k.m), k.size}] = true
		ref := "stdlib"
		kernel := env.CTRBackend
		if k.m == keys.MethodSM4CTR {
			ref, kernel = "gmsm", env.SM4Backend
		}
		t, ts := med(k)
		rv, rs := med(key{k.m, k.size, ref})
		speed := "-"
		if rv > 0 {
			speed = fmt.Sprintf("%.2fx", t/rv)
		}
		refName := map[string]string{"stdlib": "crypto/cipher", "gmsm": "gmsm"}[ref]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k.m, bench.FormatSize(int64(k.size)), ts, kernel, rs, refName, speed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := 0
	for _, v := range vals {
		n = max(n, len(v))
	}
	_, err := fmt.Fprintf(w, "\nmedians of %d interleaved repetitions, ± the 95%% confidence interval\n", n)
	return err
}
