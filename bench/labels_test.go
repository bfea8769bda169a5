package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"runtime/pprof"
	"testing"
	"time"
)

// TestProfileLabels runs a short readrandom under a CPU profile and checks
// that the samples carry the labels the --cpuprofile help promises: the
// label keys and values are strings in the profile's string table only if
// some sample carries them.
func TestProfileLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("real Pebble runs under a CPU profile, ~3 s; the non-short suite runs it")
	}
	c := delayConfig(t) // readrandom, every read from a file
	c.Methods = []Method{MethodSM4CTR}
	c.Rounds = 1
	c.Duration = 500 * time.Millisecond
	// The preload must last long enough for the profiler, which samples
	// at 100 Hz, to see it: with delayConfig's 20,000 keys it took a few
	// milliseconds and the "preload" label was missing in 3 runs of 8.
	c.Keys = 200_000

	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		t.Skipf("a CPU profile is already running (go test -cpuprofile?): %v", err)
	}
	_, err := Benchmark(context.Background(), c)
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&prof)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"method", "sm4-ctr", "plaintext", "workload", "readrandom", "phase", "preload", "measured"} {
		if !bytes.Contains(raw, []byte(s)) {
			t.Errorf("no sample carries the label string %q", s)
		}
	}
}
