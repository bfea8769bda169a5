package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tde-go/tde/bench"
	"golang.org/x/perf/benchfmt"
)

// tdebench runs the command in-process and returns its exit status and
// output.
func tdebench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// tiny are run flags for a benchmark of a second or two.
func tiny(dir string, extra ...string) []string {
	return append([]string{"--methods", "aes128-ctr", "--workloads", "fillseq,readrandom", "--keys", "4000",
		"--value-size", "100", "--cache-size", "32KiB", "--duration", "50ms", "--dir", dir}, extra...)
}

func TestRunPublishes(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "results")
	bf := filepath.Join(tmp, "pebble.txt")
	code, stdout, stderr := tdebench(t, append([]string{"run"}, tiny(tmp, "--rounds", "2", "--workload-rounds", "readrandom=3", "--out", out, "--benchfmt", bf, "--cipher=false")...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"| fillseq | plaintext |", "| readrandom | aes128-ctr |", "baseline", "2 rounds (readrandom=3)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// Not a terminal: one plain line per finished run, and the total first.
	// fillseq's 2 rounds and readrandom's 3, of 2 methods each.
	// Three rounds of readrandom carry one build, not the preset's 18.
	if !strings.Contains(stderr, "tdebench: builds lowered from the preset's 18 to 1: ") {
		t.Errorf("stderr does not say the builds were lowered:\n%s", stderr)
	}
	if !strings.Contains(stderr, "tdebench: 10 runs") || strings.Count(stderr, "ops/s") != 10 || !strings.Contains(stderr, "results written to") {
		t.Errorf("stderr:\n%s", stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-*"))
	if len(dirs) != 1 {
		t.Fatalf("results directories %v, want one", dirs)
	}
	for _, f := range []string{"pebble.txt", "results.json", "README.md", "overhead.svg"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "cipher.txt")); err == nil {
		t.Errorf("cipher.txt written with --cipher=false")
	}
	idx, _ := os.ReadFile(filepath.Join(out, "README.md"))
	if !strings.Contains(string(idx), filepath.Base(dirs[0])+"/README.md") {
		t.Errorf("index:\n%s", idx)
	}
	f, err := os.Open(bf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := benchfmt.NewReader(f, bf)
	n := 0
	for rd.Scan() {
		if _, ok := rd.Result().(*benchfmt.Result); ok {
			n++
		}
	}
	if n != 10+5 {
		t.Errorf("--benchfmt: %d results, want 10 runs and 5 overheads", n)
	}
	if b, _ := os.ReadFile(bf); !strings.Contains(string(b), "workload-rounds: readrandom=3\n") {
		t.Errorf("--benchfmt does not record the per-workload rounds:\n%s", b)
	}
}

// TestRunBuilds: --builds makes the preloaded stores that many times,
// says so as each build starts, and the table's note says the intervals
// are over the builds.
func TestRunBuilds(t *testing.T) {
	tmp := t.TempDir()
	code, stdout, stderr := tdebench(t, append([]string{"run"}, tiny(tmp, "--rounds", "2", "--workload-rounds", "readrandom=4", "--builds", "2", "--cipher=false")...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"tdebench: build 1 of 2: making the stores, in the order ", "tdebench: build 2 of 2: "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "2 rounds (readrandom=4), 2 builds") || !strings.Contains(stdout, "ran on 2 builds of the stores") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if strings.Contains(stderr, "lowered") {
		t.Errorf("builds given explicitly were lowered:\n%s", stderr)
	}
	code, _, stderr = tdebench(t, append([]string{"run"}, tiny(tmp, "--rounds", "2", "--workload-rounds", "readrandom=3", "--builds", "2")...)...)
	if code != 2 || !strings.Contains(stderr, "readrandom runs 3 rounds over 2 builds") {
		t.Errorf("3 rounds over 2 builds given explicitly: exit %d\n%s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	base := writeOverheads(t, tmp, "base.txt", "readrandom", "aes128-ctr", []float64{4, 5, 6, 5, 4, 6})
	other := writeOverheads(t, tmp, "other.txt", "scan", "sm4-ctr", []float64{4, 5, 6, 5, 4, 6})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--methods", "aes512-ctr"}, "aes512-ctr"},
		{[]string{"run", "--workloads", "fillsideways"}, "fillsideways"},
		{[]string{"run", "--cache-size", "1GiB", "--keys", "1000"}, "not much smaller than the data"},
		{[]string{"run", "--inject-delay", "aes128-ctr"}, "METHOD=DURATION"},
		{[]string{"run", "--no-such-flag"}, "unknown flag"},
		{[]string{"gate", "--current", base}, "--baseline is required"},
		{[]string{"gate", "--baseline", base}, "--current FILE"},
		{[]string{"gate", "--baseline", base, "--current", base, "--threshold", "lots"}, "percentage points"},
		{[]string{"gate", "--baseline", base, "--current", other}, "share no (workload, method)"},
		{[]string{"gate", "--baseline", base, "--current", filepath.Join(tmp, "missing.txt")}, "missing.txt"},
		{[]string{"gate", "--baseline", base, "--current", base, "--metric", "joules"}, "joules"},
	} {
		code, _, stderr := tdebench(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("tdebench %s: exit %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// writeOverheads writes a benchmark file with the overhead lines of one
// workload and method, as tdebench run does.
func writeOverheads(t *testing.T, dir, name, w, m string, vals []float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("cpu: Test CPU\nkeys: 1000\n")
	for _, v := range vals {
		fmt.Fprintf(&b, "BenchmarkPebble/workload=%s/method=plaintext 1000 1000 ns/op 1000000 ops/s\n", w)
		fmt.Fprintf(&b, "BenchmarkPebbleOverhead/workload=%s/method=%s 1 %g overhead-%% %g cpu-overhead-%%\n", w, m, v, v/2)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGateExitCodes(t *testing.T) {
	tmp := t.TempDir()
	base := writeOverheads(t, tmp, "base.txt", "fillrandom", "aes128-ctr", []float64{4.1, 5.3, 6.0, 4.8, 5.5, 3.9})
	same := writeOverheads(t, tmp, "same.txt", "fillrandom", "aes128-ctr", []float64{5.0, 4.2, 6.1, 3.8, 5.2, 4.9})
	worse := writeOverheads(t, tmp, "worse.txt", "fillrandom", "aes128-ctr", []float64{12.0, 11.4, 13.9, 12.5, 10.8, 12.2})

	code, stdout, _ := tdebench(t, "gate", "--baseline", base, "--current", same)
	if code != 0 || !strings.Contains(stdout, "PASS") {
		t.Errorf("unchanged: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr := tdebench(t, "gate", "--baseline", base, "--threshold", "3%", worse)
	if code != 1 || !strings.Contains(stdout, "REGRESSION: aes128-ctr in fillrandom") || !strings.Contains(stderr, "gate failed") {
		t.Errorf("+7 points against a 3-point threshold: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = tdebench(t, "gate", "--baseline", base, "--threshold", "10%", worse)
	if code != 0 {
		t.Errorf("+7 points against a 10-point threshold: exit %d\n%s", code, stdout)
	}
	// CPU overheads are half the time overheads in these files: +3.5
	// points, within 4.
	code, stdout, _ = tdebench(t, "gate", "--baseline", base, "--metric", "cpu", "--threshold", "4", worse)
	if code != 0 || !strings.Contains(stdout, "cpu-overhead-%") {
		t.Errorf("--metric cpu: exit %d\n%s", code, stdout)
	}
	// Both: the time overhead's +7 points fail a 4-point threshold, the
	// CPU's +3.5 do not; both reports print, each at alpha/2.
	code, stdout, _ = tdebench(t, "gate", "--baseline", base, "--metric", "time,cpu", "--threshold", "4", worse)
	if code != 1 || !strings.Contains(stdout, "gate: overhead-%") || !strings.Contains(stdout, "gate: cpu-overhead-%") ||
		strings.Count(stdout, "REGRESSION:") != strings.Count(strings.SplitN(stdout, "gate: cpu-overhead-%", 2)[0], "REGRESSION:") ||
		!strings.Contains(stdout, "at alpha 0.025") {
		t.Errorf("--metric time,cpu: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := tdebench(t, "gate", "--baseline", base, "--metric", "time,wall", worse); code != 2 || !strings.Contains(stderr, "--metric") {
		t.Errorf("--metric time,wall: exit %d, %s", code, stderr)
	}
	// Reads are compared by builds: a baseline of one run of one build
	// cannot say how far a build strays, and the gate says so.
	rbase := writeOverheads(t, tmp, "rbase.txt", "readrandom", "aes128-ctr", []float64{4.1, 5.3, 6.0, 4.8, 5.5, 3.9})
	rsame := writeOverheads(t, tmp, "rsame.txt", "readrandom", "aes128-ctr", []float64{5.0, 4.2, 6.1, 3.8, 5.2, 4.9})
	if code, _, stderr := tdebench(t, "gate", "--baseline", rbase, rsame); code != 2 || !strings.Contains(stderr, "readrandom/aes128-ctr (1+1 units, builds of runs; 3 needed in the baseline)") {
		t.Errorf("a readrandom baseline of one build: exit %d, %s", code, stderr)
	}
}

// TestGateRunInjectedDelay is the gate from the command line on real runs:
// a baseline written by tdebench run, then gate --run with aes128-ctr
// slowed by --inject-delay fails naming it, and gate --run unchanged
// passes. (bench's TestGateCatchesInjectedDelay explains why the
// unchanged run cannot fail by chance.)
func TestGateRunInjectedDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("real Pebble runs, ~8 s; the non-short suite runs it")
	}
	tmp := t.TempDir()
	base := filepath.Join(tmp, "baseline.txt")
	flags := []string{"--methods", "aes128-ctr", "--workloads", "readrandom", "--keys", "20000", "--value-size", "100",
		"--cache-size", "64KiB", "--duration", "10ms", "--rounds", "6", "--dir", tmp}
	if code, _, stderr := tdebench(t, append([]string{"run", "--benchfmt", base}, flags...)...); code != 0 {
		t.Fatalf("baseline: exit %d\n%s", code, stderr)
	}
	saved := filepath.Join(tmp, "slow.txt")
	code, stdout, stderr := tdebench(t, append([]string{"gate", "--baseline", base, "--threshold", "100%", "--run", "--save", saved,
		"--inject-delay", "aes128-ctr=200us"}, flags...)...)
	if code != 1 || !strings.Contains(stdout, "REGRESSION: aes128-ctr in readrandom") {
		t.Errorf("slowed: exit %d\n%s%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(saved); err != nil || !bytes.Contains(b, []byte("injected-delay: aes128-ctr=200µs")) {
		t.Errorf("--save: %v\n%.300s", err, b)
	}
	code, stdout, stderr = tdebench(t, append([]string{"gate", "--baseline", base, "--threshold", "100%", "--run"}, flags...)...)
	if code != 0 {
		t.Errorf("unchanged: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestCipherCmd(t *testing.T) {
	code, stdout, stderr := tdebench(t, "cipher", "--count", "2", "--duration", "2ms", "--sizes", "64B,1KiB")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"aes128-ctr", "aes192-ctr", "aes256-ctr", "sm4-ctr", "crypto/cipher", "gmsm", "64B", "1KiB", "speedup"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = tdebench(t, "cipher", "--count", "1", "--duration", "1ms", "--sizes", "64B", "--methods", "sm4-ctr", "--raw")
	if code != 0 {
		t.Fatalf("--raw: exit %d", code)
	}
	rd := benchfmt.NewReader(strings.NewReader(stdout), "cipher")
	var names []string
	for rd.Scan() {
		if r, ok := rd.Result().(*benchfmt.Result); ok {
			names = append(names, string(r.Name.Full()))
		}
	}
	if strings.Join(names, " ") != "Cipher/method=sm4-ctr/size=64B/impl=tde Cipher/method=sm4-ctr/size=64B/impl=gmsm" {
		t.Errorf("--raw results %v", names)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"run", "cipher", "gate"} {
		code, stdout, _ := tdebench(t, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "tdebench "+cmd) {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, stdout)
		}
	}
	_, stdout, _ := tdebench(t, "gate", "--help")
	if !strings.Contains(stdout, "percentage points") {
		t.Errorf("gate --help does not say what the threshold means")
	}
}

// TestGateExtendPools: with --extend, the current run is the runs so far
// one after another, each with its own configuration, and each run's
// builds count: two runs of two builds are four units; and a pair that
// rose past the threshold without significance is doubtful (worth
// another run), one that rose less is not.
func TestGateExtendPools(t *testing.T) {
	tmp := t.TempDir()
	file := func(builds int, vals []float64) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "cpu: Test CPU\nbuilds: %d\n", builds)
		for _, v := range vals {
			fmt.Fprintf(&b, "BenchmarkPebbleOverhead/workload=readrandom/method=aes128-ctr 1 %g overhead-%%\n", v)
		}
		return []byte(b.String())
	}
	base := filepath.Join(tmp, "base.txt")
	if err := os.WriteFile(base, file(2, []float64{4, 4.2, 5, 5.2}), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := bench.GateOptions{Threshold: 2, Alpha: 0.05}
	if _, err := gateAll(base, "", file(2, []float64{5, 5, 5, 5}), []string{bench.UnitOverhead}, opt, io.Discard); err == nil || !strings.Contains(err.Error(), "2+2 units") {
		t.Fatalf("a baseline of two builds: got %v, want too few units", err)
	}
	if err := os.WriteFile(base, file(4, []float64{4, 4.2, 5, 5.2, 4.4, 4.6, 5.4, 5.6}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Builds whose centers scatter by ten points, about three above the
	// baseline's.
	run := append(file(2, []float64{2, 3, 14, 15}), file(2, []float64{3, 4, 12, 11})...)
	gates, err := gateAll(base, "", run, []string{bench.UnitOverhead}, opt, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v := gates[0].Verdicts[0]
	if v.Current.Builds != 4 || v.Current.N != 8 {
		t.Fatalf("two runs of two builds: %d units of %d rounds, want 4 of 8", v.Current.Builds, v.Current.N)
	}
	if v.Regressed || v.Change <= 2 {
		t.Fatalf("want a rise past 2 points that is not significant at 4 builds: %+v", v)
	}
	if d := doubtful(gates); len(d) != 1 || d[0] != "readrandom/aes128-ctr" {
		t.Errorf("doubtful: %v", d)
	}
	gates[0].Options.Threshold = 10
	if d := doubtful(gates); len(d) != 0 {
		t.Errorf("doubtful with a 10-point threshold: %v", d)
	}
}
