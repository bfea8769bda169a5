package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/perf/benchfmt"
)

// The benchmark-format layout. Results are named so that
// `benchstat -col /method pebble.txt` puts the methods side by side, with
// plaintext (written first) as the base column:
//
//	BenchmarkPebble/workload=W/method=M          one line per round: ops ns/op ops/s MB/s cpu-sec/GB p50-ns p99-ns p99.9-ns
//	BenchmarkPebbleOverhead/workload=W/method=M  one line per round, encrypted methods: overhead-% cpu-overhead-%
//	BenchmarkCipher/method=M/size=S/impl=I       one line per repetition: ns/op MB/s
//
// The round is not in the name: benchstat treats lines of the same name as
// repeated measurements. The JSON report keeps it.
const (
	PebbleBench   = "Pebble"
	OverheadBench = "PebbleOverhead"
	CipherBench   = "Cipher"

	// UnitOverhead and UnitCPUOverhead are the overhead lines' units;
	// the gate reads them.
	UnitOverhead    = "overhead-%"
	UnitCPUOverhead = "cpu-overhead-%"
)

// WriteBenchfmt writes the report's Pebble results in the Go benchmark
// format: the environment and settings as file configuration, then one
// result line per run and one overhead line per encrypted run.
func (r *Report) WriteBenchfmt(w io.Writer) error {
	bw := bufio.NewWriter(w)
	writeConfig(bw, r.Env.config())
	writeConfig(bw, r.Settings.config())
	runs := append([]Run(nil), r.Runs...)
	sortRuns(runs)
	for _, run := range runs {
		fmt.Fprintf(bw, "Benchmark%s/workload=%s/method=%s %d", PebbleBench, run.Workload, run.Method, run.Ops)
		writeValue(bw, float64(run.Wall.Nanoseconds())/float64(max(run.Ops, 1)), "ns/op")
		writeValue(bw, run.OpsPerSec(), "ops/s")
		writeValue(bw, run.MBPerSec(), "MB/s")
		writeValue(bw, run.CPUSecPerGB(), "cpu-sec/GB")
		writeValue(bw, float64(run.Latency.P50.Nanoseconds()), "p50-ns")
		writeValue(bw, float64(run.Latency.P99.Nanoseconds()), "p99-ns")
		writeValue(bw, float64(run.Latency.P999.Nanoseconds()), "p99.9-ns")
		bw.WriteByte('\n')
	}
	for _, o := range r.Overheads {
		fmt.Fprintf(bw, "Benchmark%s/workload=%s/method=%s 1", OverheadBench, o.Workload, o.Method)
		writeValue(bw, o.Time, UnitOverhead)
		writeValue(bw, o.CPU, UnitCPUOverhead)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteCipherBenchfmt writes cipher-mode results in the Go benchmark
// format, under the environment env.
func WriteCipherBenchfmt(w io.Writer, env Env, results []CipherResult) error {
	bw := bufio.NewWriter(w)
	cfg := env.config()
	cfg = append(cfg, [2]string{"gmsm", moduleVersion("github.com/emmansun/gmsm")})
	writeConfig(bw, cfg)
	for _, c := range results {
		fmt.Fprintf(bw, "Benchmark%s/method=%s/size=%s/impl=%s %d", CipherBench, c.Method, FormatSize(int64(c.Size)), c.Impl, c.Iters)
		writeValue(bw, c.NsPerOp, "ns/op")
		writeValue(bw, c.MBPerSec, "MB/s")
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func writeConfig(w *bufio.Writer, kv [][2]string) {
	for _, p := range kv {
		if p[1] == "" {
			continue
		}
		// A value is one line; keys are lower case without spaces, as
		// the format requires.
		fmt.Fprintf(w, "%s: %s\n", p[0], strings.ReplaceAll(p[1], "\n", " "))
	}
}

// writeValue writes " value unit" with about five significant digits and
// no exponent, so the file stays readable.
func writeValue(w *bufio.Writer, v float64, unit string) {
	w.WriteByte(' ')
	w.WriteString(formatNumber(v))
	w.WriteByte(' ')
	w.WriteString(unit)
}

func formatNumber(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	digits := 5 - int(math.Floor(math.Log10(math.Abs(v)))) - 1
	digits = max(0, min(digits, 9))
	return strconv.FormatFloat(v, 'f', digits, 64)
}

// sortRuns orders runs for the benchmark file: by workload, round, then
// method with plaintext first (benchstat's base column is the first value
// it sees).
func sortRuns(runs []Run) {
	slices.SortStableFunc(runs, func(a, b Run) int {
		return cmp.Or(cmpWorkload(a.Workload, b.Workload), cmp.Compare(a.Round, b.Round), cmp.Compare(a.Method, b.Method))
	})
}

// Pair is a workload and method, as named in a benchmark file.
type Pair struct {
	Workload string
	Method   string
}

func (p Pair) String() string { return p.Workload + "/" + p.Method }

// OverheadFile is the per-round overheads read from a benchmark file, with
// its file configuration. A file can hold several runs one after another
// (make baseline joins runs made in separate processes; gate --extend
// joins its own), each starting with its configuration.
type OverheadFile struct {
	Name    string
	Samples map[Pair][]float64 // by workload and method, in file order
	Config  map[string]string  // file configuration (the last value of each key)
	runs    []overheadRun      // the runs in file order; none read means one run of Config's builds
}

// overheadRun is one run in an OverheadFile: its builds setting and where
// each pair's rounds start in Samples.
type overheadRun struct {
	builds int
	start  map[Pair]int
}

// Units groups pair p's overheads as the gate compares them. A fill's
// every slice writes a store of its own: each round is a unit. Reads run
// on stores made once per build, and the rounds of a build share its
// stores and the minutes it ran in, either of which can put a method's
// overhead a point or more off: the rounds of one build of one run are
// a unit, and only the spread between units measures that offset
// (bench/README.md, "Gate power"). Within a run, build b (from 0) of nb
// ran rounds b·n/nb+1 to (b+1)·n/nb of the run's n (Config.buildRounds).
func (f *OverheadFile) Units(p Pair) [][]float64 {
	vals := f.Samples[p]
	if w, err := ParseWorkload(p.Workload); err != nil || !w.preloaded() {
		units := make([][]float64, len(vals))
		for i := range vals {
			units[i] = vals[i : i+1]
		}
		return units
	}
	runs := f.runs
	if len(runs) == 0 {
		nb, _ := strconv.Atoi(f.Config["builds"])
		runs = []overheadRun{{builds: nb}}
	}
	var units [][]float64
	for i, r := range runs {
		lo, hi := r.start[p], len(vals)
		if i+1 < len(runs) {
			hi = runs[i+1].start[p]
		}
		run := vals[lo:hi]
		n := len(run)
		nb := min(max(r.builds, 1), n)
		for b := range nb {
			units = append(units, run[b*n/nb:(b+1)*n/nb])
		}
	}
	return units
}

// ReadOverheads reads the overhead lines of a benchmark file (the
// BenchmarkPebbleOverhead results) in the given unit (UnitOverhead or
// UnitCPUOverhead). Lines of other benchmarks are skipped; a syntax error
// is an error naming the line.
func ReadOverheads(r io.Reader, name, unit string) (*OverheadFile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f := &OverheadFile{Name: name, Samples: map[Pair][]float64{}, Config: map[string]string{}}
	line := 0
	for _, text := range splitRuns(data) {
		run := overheadRun{start: map[Pair]int{}}
		for p, vals := range f.Samples {
			run.start[p] = len(vals)
		}
		cfg := map[string]string{}
		if err := readRun(text, name, unit, f.Samples, cfg); err != nil {
			var se *benchfmt.SyntaxError
			if errors.As(err, &se) {
				se.Line += line
			}
			return nil, err
		}
		line += bytes.Count(text, []byte("\n"))
		run.builds, _ = strconv.Atoi(cfg["builds"])
		maps.Copy(f.Config, cfg)
		f.runs = append(f.runs, run)
	}
	return f, nil
}

// readRun adds one run's overheads to samples and its file configuration
// to cfg.
func readRun(text []byte, name, unit string, samples map[Pair][]float64, cfg map[string]string) error {
	br := benchfmt.NewReader(bytes.NewReader(text), name)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			return rec
		case *benchfmt.Result:
			for _, c := range rec.Config {
				if c.File {
					cfg[c.Key] = string(c.Value)
				}
			}
			base, parts := rec.Name.Parts()
			if string(base) != OverheadBench {
				continue
			}
			var p Pair
			for _, part := range parts {
				k, v, _ := strings.Cut(strings.TrimPrefix(string(part), "/"), "=")
				switch k {
				case "workload":
					p.Workload = v
				case "method":
					p.Method = v
				}
			}
			v, ok := rec.Value(unit)
			if !ok || p.Workload == "" || p.Method == "" {
				continue
			}
			samples[p] = append(samples[p], v)
		}
	}
	return br.Err()
}

// splitRuns splits benchmark text into its runs: a configuration line
// after a result line starts a new one.
func splitRuns(data []byte) [][]byte {
	var runs [][]byte
	start, results := 0, false
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := off + end + 1
		if end < 0 {
			end, next = len(data)-off, len(data)
		}
		line := data[off : off+end]
		switch {
		case bytes.HasPrefix(line, []byte("Benchmark")):
			results = true
		case results && isConfigLine(line):
			runs = append(runs, data[start:off])
			start, results = off, false
		}
		off = next
	}
	return append(runs, data[start:])
}

// isConfigLine reports whether line is a file configuration line as the
// benchmark format defines it: "key: value", the key starting with a
// lower-case letter and holding no space or upper-case letter.
func isConfigLine(line []byte) bool {
	key, _, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(key) == 0 || key[0] < 'a' || key[0] > 'z' {
		return false
	}
	return !bytes.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsUpper(r) })
}

// methodRank orders method names as Methods does, unknown names last.
func methodRank(s string) int {
	m, err := ParseMethod(s)
	if err != nil {
		return 1 << 10
	}
	return int(m)
}
