package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tde-go/tde/bench"
	"github.com/tde-go/tde/keys"
)

// runFlags are the flags that describe a benchmark run; `run` and
// `gate --run` share them.
type runFlags struct {
	short       bool
	methods     []string
	workloads   []string
	rounds      int
	wlRounds    []string
	builds      int
	keys        int
	valueSize   int
	duration    time.Duration
	cacheSize   string
	concurrency int
	scanLength  int
	readPercent int
	dir         string
	seed        uint64
	delays      []string
	memFS       bool
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	d := bench.Defaults()
	s := bench.Short()
	fs.BoolVar(&f.short, "short", false, fmt.Sprintf("the quick preset (make bench, CI): %d keys, slices of %v, %s cache, %d rounds (%s), tde's methods only; under two minutes; flags given explicitly still apply",
		s.Keys, s.Duration, bench.FormatSize(s.CacheSize), s.Rounds, workloadRoundsText(s)))
	fs.StringSliceVar(&f.methods, "methods", methodNames(d.Methods), "methods to run, comma-separated (plaintext, aes128-ctr, aes192-ctr, aes256-ctr, sm4-ctr, gocryptfs); plaintext, the baseline, always runs")
	fs.StringSliceVar(&f.workloads, "workloads", workloadNames(d.Workloads), "workloads to run, comma-separated")
	fs.IntVar(&f.rounds, "rounds", d.Rounds, "rounds: every workload runs one slice per method per round (6 give a 95% CI; 20 or more a narrow one); given, it replaces the preset's per-workload rounds too")
	fs.StringSliceVar(&f.wlRounds, "workload-rounds", nil, "rounds for single workloads, overriding --rounds and the preset's, comma-separated WORKLOAD=ROUNDS, such as readrandom=48,scan=48")
	fs.IntVar(&f.builds, "builds", max(1, d.Builds), "times the preloaded stores are made afresh within the run, each time in an order rotated by one place, each build running an equal share of the rounds of the workloads on them; their overheads' intervals are taken over the builds (Student's t: 5 or more for a useful width); 1 makes the stores once, in the methods' order, with intervals over rounds")
	fs.IntVar(&f.keys, "keys", d.Keys, "keys the fills write and the other workloads preload (16 B each)")
	fs.IntVar(&f.valueSize, "value-size", d.ValueSize, "value size in bytes (values compress to about half)")
	fs.DurationVar(&f.duration, "duration", d.Duration, "length of a slice: every slice of a workload runs the operations plaintext does in about this long (calibrated)")
	fs.StringVar(&f.cacheSize, "cache-size", bench.FormatSize(d.CacheSize), "room for blocks in Pebble's block cache (B, KiB, MiB, GiB; what Pebble charges the cache for memtables comes on top); keep it much smaller than keys × (16 + value size)")
	fs.IntVar(&f.concurrency, "concurrency", d.Concurrency, "goroutines issuing operations")
	fs.IntVar(&f.scanLength, "scan-length", d.ScanLength, "entries one scan reads")
	fs.IntVar(&f.readPercent, "read-percent", d.ReadPercent, "share of reads in the mixed workload, in percent")
	fs.StringVar(&f.dir, "dir", "", "directory for the temporary stores (default the system temp dir); removed afterwards")
	fs.Uint64Var(&f.seed, "seed", 0, "seed for method order, keys and values (0: random; the seed used is recorded)")
	fs.BoolVar(&f.memFS, "memfs", false, "keep every store in memory (Pebble's vfs.NewMem) instead of on the disk: no disk noise in the figures; gocryptfs is skipped")
	fs.StringArrayVar(&f.delays, "inject-delay", nil, "testing aid: METHOD=DURATION busy-waits that long in every file read and write of METHOD's stores, to see the gate catch a slow method")
}

// config builds the bench configuration: the preset, then every flag the
// user set.
func (f *runFlags) config(fs *pflag.FlagSet) (bench.Config, error) {
	c := bench.Defaults()
	if f.short {
		c = bench.Short()
	}
	set := func(name string) bool { return fs.Changed(name) }
	if set("methods") {
		c.Methods = nil
		for _, s := range f.methods {
			m, err := bench.ParseMethod(s)
			if err != nil {
				return c, fmt.Errorf("--methods: %w", err)
			}
			c.Methods = append(c.Methods, m)
		}
	}
	if set("workloads") {
		c.Workloads = nil
		for _, s := range f.workloads {
			w, err := bench.ParseWorkload(s)
			if err != nil {
				return c, fmt.Errorf("--workloads: %w", err)
			}
			c.Workloads = append(c.Workloads, w)
		}
	}
	if set("rounds") {
		c.Rounds, c.WorkloadRounds = f.rounds, nil
	}
	for _, wr := range f.wlRounds {
		ws, ns, ok := strings.Cut(wr, "=")
		w, err := bench.ParseWorkload(ws)
		n, nerr := strconv.Atoi(ns)
		if !ok || err != nil || nerr != nil || n < 1 {
			return c, fmt.Errorf("--workload-rounds %q: want WORKLOAD=ROUNDS, such as readrandom=48", wr)
		}
		if c.WorkloadRounds == nil {
			c.WorkloadRounds = map[bench.Workload]int{}
		}
		c.WorkloadRounds[w] = n
	}
	if set("builds") {
		c.Builds = f.builds
	}
	if set("keys") {
		c.Keys = f.keys
	}
	if set("value-size") {
		c.ValueSize = f.valueSize
	}
	if set("duration") {
		c.Duration = f.duration
	}
	if set("cache-size") {
		n, err := bench.ParseSize(f.cacheSize)
		if err != nil {
			return c, fmt.Errorf("--cache-size: %w", err)
		}
		c.CacheSize = n
	}
	if set("concurrency") {
		c.Concurrency = f.concurrency
	}
	if set("scan-length") {
		c.ScanLength = f.scanLength
	}
	if set("read-percent") {
		c.ReadPercent = f.readPercent
	}
	c.Dir, c.Seed, c.MemFS = f.dir, f.seed, f.memFS
	for _, d := range f.delays {
		ms, ds, ok := strings.Cut(d, "=")
		m, err := bench.ParseMethod(ms)
		if !ok || err != nil {
			return c, fmt.Errorf("--inject-delay %q: want METHOD=DURATION, such as aes128-ctr=20us", d)
		}
		dur, err := time.ParseDuration(ds)
		if err != nil || dur < 0 {
			return c, fmt.Errorf("--inject-delay %q: want METHOD=DURATION, such as aes128-ctr=20us", d)
		}
		if c.Delay == nil {
			c.Delay = map[bench.Method]time.Duration{}
		}
		c.Delay[m] = dur
	}
	// The preset's builds need two rounds a build; fewer rounds asked for
	// lower them, and the report says so.
	if mb := c.MaxBuilds(); !set("builds") && c.Builds > mb {
		c.Notes = append(c.Notes, fmt.Sprintf("builds lowered from the preset's %d to %d: the rounds asked for allow no more (two a build of each workload on preloaded stores)", c.Builds, mb))
		c.Builds = mb
	}
	return c, c.Validate()
}

// benchmark runs c with progress on stderr.
func benchmark(ctx context.Context, c bench.Config, stderr io.Writer) (*bench.Report, error) {
	p := newProgress(stderr)
	c.Progress = p.update
	c.Log = func(msg string) { p.log("tdebench: " + msg) }
	r, err := bench.Benchmark(ctx, c)
	p.finish()
	return r, err
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		f          runFlags
		out        string
		benchOut   string
		jsonOut    bool
		cipher     bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the Pebble workloads for every method and print the table",
		Long: `run drives Pebble through tde for every method and workload, interleaved
in short slices, and prints a Markdown table: per workload and method the
median ops/s, MB/s of user data, CPU seconds (user+system) per GB of user
data and p99 latency, and the overhead against plaintext with its 95%
confidence interval.

Methods: plaintext (Pebble on the bare disk, the baseline), tde's
aes128-ctr, aes192-ctr, aes256-ctr and sm4-ctr (Pebble on tde's engine),
and gocryptfs (Pebble on a gocryptfs FUSE mount, mounted for the run with
a random password; left out with one line saying why where it cannot
mount: Debian packages gocryptfs and fuse3, and /dev/fuse).

Every method's store is open at once. Each workload runs --rounds rounds
of one slice per method, in a fresh random order; every slice of a
workload runs the same operations (the number plaintext does in about
--duration, calibrated first), the same keys for every method of a round.

Workloads (16-byte keys; values compress to about half):
  fillseq     write keys in ascending order into a fresh store per slice
  fillrandom  write distinct keys in random order into a fresh store per slice
  overwrite   overwrite random existing keys
  readrandom  read random existing keys (the cache is much smaller than
              the data: reads reach the files and decrypt)
  scan        seek to a random key and read --scan-length entries
  mixed       --read-percent reads, the rest overwrites
The others run on one store per method, loaded with --keys keys and
compacted into the last level before the first of them and before each
that follows one that wrote (not measured), so every method's store holds
the same tables and the reads compare like with like. Those stores are
made --builds times (18 in the full run, 5 with --short), each time in an
order rotated by one place, each build running its share of the rounds: a
store can keep a speed of its own for its life (about a point on scans
here), and the intervals are taken over the builds to hold it. Before the
reads, every store's tables are dropped from the page cache and read back
once, so that they are cached alike whatever order they were written in. Slices that write end by flushing the memtable and waiting for
compactions inside the measured time (a fill compacts what it wrote once):
writing is done when the data is in (encrypted) tables. CPU is the whole
process's over the slice (getrusage), plus gocryptfs's own for gocryptfs.
Latencies are of foreground operations only. --memfs keeps the stores in
memory, to take the disk out of the figures.

Overhead is the extra time per operation: (plaintext ops/s ÷ method
ops/s − 1) × 100, per round against the plaintext slice of the same
round; "CPU overhead" the same for CPU s/GB.

With --out, the results go to <out>/<date>-<cpu>/: pebble.txt (benchfmt,
for benchstat), cipher.txt (the raw kernels), results.json, README.md
(the table) and overhead.svg, and <out>/README.md gets an index line.`,
		Example: `  tdebench run --short                         # the ~2 min comparison of make bench
  tdebench run --out results                   # the full run (~53 min, gocryptfs too), published
  tdebench run --short --methods aes128-ctr,gocryptfs --workloads readrandom,scan
  tdebench run --methods aes256-ctr --workloads readrandom,scan --rounds 10
  tdebench run --short --benchfmt new.txt && go tool benchstat -col /method new.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.config(cmd.Flags())
			if err != nil {
				return &exitError{2, err}
			}
			if cpuProfile != "" {
				pf, err := os.Create(cpuProfile)
				if err != nil {
					return &exitError{2, err}
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return err
				}
			}
			start := time.Now()
			r, err := benchmark(cmd.Context(), c, stderr)
			if cpuProfile != "" {
				pprof.StopCPUProfile()
			}
			if err != nil {
				return err
			}
			if out != "" && cipher {
				cc := bench.DefaultCipherConfig()
				cc.Methods = nil
				for _, m := range c.Methods {
					if m != bench.MethodGocryptfs {
						cc.Methods = append(cc.Methods, keys.Method(m))
					}
				}
				fmt.Fprintln(stderr, "measuring the cipher kernels…")
				if r.Cipher, err = bench.BenchmarkCiphers(cmd.Context(), cc); err != nil {
					return err
				}
			}
			if benchOut != "" {
				if err := writeFile(benchOut, r.WriteBenchfmt); err != nil {
					return err
				}
			}
			if jsonOut {
				if err := r.WriteJSON(stdout); err != nil {
					return err
				}
			} else {
				if err := r.WriteMarkdownHeader(stdout); err != nil {
					return err
				}
				if err := r.WriteMarkdown(stdout); err != nil {
					return err
				}
			}
			if out != "" {
				dir, err := bench.Publish(out, r)
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "results written to %s\n", dir)
			}
			fmt.Fprintf(stderr, "tdebench run: %d runs in %v\n", len(r.Runs), time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&out, "out", "", "results root (such as results): write everything to <out>/<date>-<cpu>/ and index it in <out>/README.md (default: print only)")
	cmd.Flags().StringVar(&benchOut, "benchfmt", "", "also write the benchfmt text (pebble.txt) to this file")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the JSON report instead of the table")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the workloads to this file: where the overhead goes; samples carry the labels method, workload and phase (preload, compact, measured), so go tool pprof -tagfocus method=sm4-ctr -tagignore phase=preload cuts it")
	cmd.Flags().BoolVar(&cipher, "cipher", true, "with --out, also measure the raw kernels into cipher.txt")
	return cmd
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func methodNames[M fmt.Stringer](ms []M) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

func workloadNames(ws []bench.Workload) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = string(w)
	}
	return out
}

// workloadRoundsText lists c's per-workload rounds, as "readrandom=48, scan=48".
func workloadRoundsText(c bench.Config) string {
	var rs []string
	for _, w := range bench.Workloads() {
		if n, ok := c.WorkloadRounds[w]; ok {
			rs = append(rs, fmt.Sprintf("%s=%d", w, n))
		}
	}
	return strings.Join(rs, ", ")
}
