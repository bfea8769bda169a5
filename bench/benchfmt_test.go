package bench

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tde-go/tde/keys"
	"golang.org/x/perf/benchfmt"
)

// TestBenchfmt: the file parses with x/perf's reader as benchstat does,
// carries every unit and the configuration, and reads back the values.
func TestBenchfmt(t *testing.T) {
	base := []int64{100000, 200000, 150000}
	r := NewReport(testEnv(), testSettings(len(base)), handRuns(base,
		map[Method]float64{MethodAES128CTR: 1.25, MethodSM4CTR: 2},
		map[Method]float64{MethodAES128CTR: 1.1, MethodSM4CTR: 1.5}))
	var buf bytes.Buffer
	if err := r.WriteBenchfmt(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()

	rd := benchfmt.NewReader(strings.NewReader(text), "pebble.txt")
	var results, overheads int
	var firstMethod = map[string]string{} // per workload: the first method seen
	pebbleUnits := []string{"sec/op", "ops/s", "B/s", "cpu-sec/GB", "p50-sec", "p99-sec", "p99.9-sec"}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Fatalf("syntax error: %v", rec)
		case *benchfmt.Result:
			for k, want := range map[string]string{
				"cpu": "Test CPU 9000", "go": "go1.26.8", "goos": "linux", "goarch": "amd64",
				"tde-ctr-backend": "vaes-zmm", "tde-sm4-backend": "gfni-zmm", "pebble": "v2.1.7",
				"date": "2026-11-23T04:05:06Z", "keys": "1000", "value-size": "100", "duration": "1s",
				"cache-size": "1MiB", "concurrency": "1", "rounds": "3", "seed": "42",
				"methods": "plaintext,aes128-ctr,sm4-ctr", "workloads": "fillseq,readrandom",
			} {
				if got := rec.GetConfig(k); got != want {
					t.Errorf("%s: config %s = %q, want %q", rec.Name.Full(), k, got, want)
				}
			}
			base, parts := rec.Name.Parts()
			if len(parts) != 2 || !strings.HasPrefix(string(parts[0]), "/workload=") || !strings.HasPrefix(string(parts[1]), "/method=") {
				t.Fatalf("name %s: want workload and method keys", rec.Name.Full())
			}
			w := strings.TrimPrefix(string(parts[0]), "/workload=")
			m := strings.TrimPrefix(string(parts[1]), "/method=")
			switch string(base) {
			case PebbleBench:
				results++
				if _, ok := firstMethod[w]; !ok {
					firstMethod[w] = m
				}
				for _, u := range pebbleUnits {
					if _, ok := rec.Value(u); !ok {
						t.Errorf("%s: no %s value", rec.Name.Full(), u)
					}
				}
				ops, _ := rec.Value("ops/s")
				bps, _ := rec.Value("B/s")
				p99, _ := rec.Value("p99-sec")
				if math.Abs(bps/ops-116) > 0.1 || math.Abs(p99-10e-6) > 1e-9 {
					t.Errorf("%s: %v ops/s, %v B/s, p99 %v s: not what was written", rec.Name.Full(), ops, bps, p99)
				}
				if int64(rec.Iters) <= 0 {
					t.Errorf("%s: %d iterations", rec.Name.Full(), rec.Iters)
				}
			case OverheadBench:
				overheads++
				v, ok := rec.Value(UnitOverhead)
				c, ok2 := rec.Value(UnitCPUOverhead)
				want, wantCPU := 25.0, 10.0
				if m == "sm4-ctr" {
					want, wantCPU = 100, 50
				}
				if !ok || !ok2 || math.Abs(v-want) > 0.01 || math.Abs(c-wantCPU) > 0.01 {
					t.Errorf("%s: overhead %v%% cpu %v%%, want %v and %v", rec.Name.Full(), v, c, want, wantCPU)
				}
			default:
				t.Errorf("unexpected benchmark %s", rec.Name.Full())
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if results != 2*3*3 || overheads != 2*2*3 {
		t.Errorf("%d result lines and %d overhead lines, want 18 and 12", results, overheads)
	}
	// benchstat's base column is the first value it sees: plaintext.
	for w, m := range firstMethod {
		if m != "plaintext" {
			t.Errorf("%s: first method in the file is %s, want plaintext", w, m)
		}
	}

	// The gate's reader sees the same overheads.
	f, err := ReadOverheads(strings.NewReader(text), "pebble.txt", UnitOverhead)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Samples[Pair{"readrandom", "sm4-ctr"}]; len(got) != 3 || math.Abs(got[0]-100) > 0.01 {
		t.Errorf("ReadOverheads: readrandom/sm4-ctr = %v, want three samples of 100", got)
	}
	if len(f.Samples) != 4 || f.Config["tde-ctr-backend"] != "vaes-zmm" {
		t.Errorf("ReadOverheads: %d pairs, config %v", len(f.Samples), f.Config)
	}
	_, err = ReadOverheads(strings.NewReader("BenchmarkPebbleOverhead/workload=x/method=y 1 zz overhead-%\n"), "bad.txt", UnitOverhead)
	var se *benchfmt.SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("a malformed line: got %v, want a syntax error", err)
	}
}

func TestCipherBenchfmt(t *testing.T) {
	res := []CipherResult{
		{Method: keys.MethodAES256CTR, Impl: "tde", Backend: "vaes-zmm", Size: 16384, Iters: 100000, NsPerOp: 512.5, MBPerSec: 31968.8},
		{Method: keys.MethodAES256CTR, Impl: "stdlib", Backend: "crypto/cipher", Size: 16384, Iters: 30000, NsPerOp: 2048, MBPerSec: 8000},
		{Method: keys.MethodSM4CTR, Impl: "gmsm", Backend: "gmsm", Size: 64, Iters: 1000000, NsPerOp: 140, MBPerSec: 457.1},
	}
	var buf bytes.Buffer
	if err := WriteCipherBenchfmt(&buf, testEnv(), res); err != nil {
		t.Fatal(err)
	}
	rd := benchfmt.NewReader(&buf, "cipher.txt")
	var names []string
	for rd.Scan() {
		rec, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			t.Fatalf("%v", rd.Result())
		}
		names = append(names, string(rec.Name.Full()))
		if rec.GetConfig("tde-sm4-backend") != "gfni-zmm" || rec.GetConfig("cpu") != "Test CPU 9000" {
			t.Errorf("%s: config %v", rec.Name.Full(), rec.Config)
		}
		if _, ok := rec.Value("sec/op"); !ok {
			t.Errorf("%s: no sec/op", rec.Name.Full())
		}
		if v, _ := rec.Value("B/s"); v <= 0 {
			t.Errorf("%s: B/s %v", rec.Name.Full(), v)
		}
	}
	want := "Cipher/method=aes256-ctr/size=16KiB/impl=tde Cipher/method=aes256-ctr/size=16KiB/impl=stdlib Cipher/method=sm4-ctr/size=64B/impl=gmsm"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("names %s, want %s", got, want)
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{416666.6666: "416667", 12.34567: "12.346", 0.000123456: "0.00012346", -3.21: "-3.2100", 0: "0"} {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%v) = %s, want %s", v, got, want)
		}
	}
}
