package bench

import (
	"runtime"
	"testing"
	"time"
)

// TestMeterBusyLoop: getrusage deltas over a busy loop are positive and
// about the wall time (one goroutine busy), and an idle sleep costs little
// CPU.
func TestMeterBusyLoop(t *testing.T) {
	if _, _, ok := processCPU(); !ok {
		if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
			t.Skip("no getrusage here")
		}
		t.Fatal("getrusage failed")
	}
	m := startMeter()
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		for i := range 1000 {
			x += i
		}
	}
	wall, user, sys := m.stop(time.Now())
	if user+sys <= 0 || user <= 0 {
		t.Fatalf("busy loop: user %v sys %v, want positive (x=%d)", user, sys, x)
	}
	// On a loaded machine the loop may get less than a full core, never
	// more: one goroutine spins. Allow GC and other threads some slack.
	if user+sys < wall/10 || user+sys > wall*3/2+20*time.Millisecond {
		t.Errorf("busy loop of %v wall used %v CPU", wall, user+sys)
	}

	m = startMeter()
	time.Sleep(200 * time.Millisecond)
	wall, user, sys = m.stop(time.Now())
	if user+sys > wall/4 {
		t.Errorf("sleeping %v cost %v CPU", wall, user+sys)
	}
}

func TestLatencyPercentiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 10000; i++ {
		recordLatency(h, time.Duration(i)*time.Microsecond)
	}
	recordLatency(h, -5)             // clamped, not dropped
	recordLatency(h, 1000*time.Hour) // clamped, not dropped
	if h.TotalCount() != 10002 {
		t.Fatalf("%d values recorded, want 10002", h.TotalCount())
	}
	l := latencyOf(h)
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{{"p50", l.P50, 5000 * time.Microsecond}, {"p99", l.P99, 9900 * time.Microsecond}, {"p99.9", l.P999, 9990 * time.Microsecond}} {
		if d := c.got - c.want; d < -c.want/500 || d > c.want/500 {
			t.Errorf("%s = %v, want %v within 0.2%%", c.name, c.got, c.want)
		}
	}
	if (latencyOf(newHistogram()) != Latency{}) {
		t.Errorf("an empty histogram has percentiles")
	}
}
