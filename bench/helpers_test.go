package bench

import (
	"time"
)

// testEnv is a fixed environment, so outputs can be compared exactly.
func testEnv() Env {
	return Env{
		CPU: "Test CPU 9000", Cores: 2, GOOS: "linux", GOARCH: "amd64", GOMAXPROCS: 2,
		Go: "go1.26.8", Kernel: "Linux 6.0", CTRBackend: "vaes-zmm", SM4Backend: "gfni-zmm",
		Pebble: "v2.1.7", Revision: "0123456789abcdef", Date: time.Date(2026, 11, 23, 4, 5, 6, 0, time.UTC),
	}
}

func testSettings(rounds int) Settings {
	return Settings{
		Methods:   []string{"plaintext", "aes128-ctr", "sm4-ctr"},
		Workloads: []string{"fillseq", "readrandom"},
		Rounds:    rounds, Keys: 1000, ValueSize: 100, Duration: time.Second, CacheSize: 1 << 20,
		Concurrency: 1, ScanLength: 100, ReadPercent: 50, Seed: 42,
	}
}

// handRuns builds runs by hand: in round r, plaintext does base[r] ops in
// one second, and each encrypted method does base[r] / factor[m] — so its
// overhead in that round is exactly (factor − 1) × 100%, whatever base is,
// as long as it is compared with its own round's plaintext. CPU per GB is
// cpuFactor times plaintext's.
func handRuns(base []int64, factor, cpuFactor map[Method]float64) []Run {
	var runs []Run
	for _, w := range []Workload{FillSeq, ReadRandom} {
		for i, b := range base {
			for _, m := range []Method{MethodSM4CTR, MethodPlaintext, MethodAES128CTR} {
				ops := b
				cpu := 1.0
				if m != MethodPlaintext {
					ops = int64(float64(b) / factor[m])
					cpu = cpuFactor[m]
				}
				// Bytes per op fixed, so CPU s/GB follows CPU time alone
				// once scaled by ops.
				bytes := ops * 116
				cpuTime := time.Duration(cpu * float64(bytes) / 116 * float64(time.Microsecond))
				runs = append(runs, Run{
					Workload: w, Method: m, Round: i + 1, Order: 1,
					Ops: ops, Bytes: bytes, Wall: time.Second, User: cpuTime * 3 / 4, Sys: cpuTime / 4,
					Latency:    Latency{P50: 2 * time.Microsecond, P99: 10 * time.Microsecond, P999: 50 * time.Microsecond},
					TableBytes: 1 << 20,
				})
			}
		}
	}
	return runs
}
