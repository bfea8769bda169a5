package bench

import (
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds from 1 ns to 100 s with three
// significant digits: an HDR histogram keeps the tail exact to 0.1% in a
// fixed few tens of kilobytes, however many operations a run does, where
// a sample of durations would either grow without bound or lose p99.9.
const (
	histMin     = 1
	histMax     = int64(100 * time.Second)
	histSigFigs = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSigFigs)
}

// recordLatency adds one operation's latency, clamped into the
// histogram's range (a 100 s operation is a broken run anyway).
func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	v := int64(d)
	if v < histMin {
		v = histMin
	}
	if v > histMax {
		v = histMax
	}
	_ = h.RecordValue(v) // in range by construction
}

// Latency holds the percentiles a run reports.
type Latency struct {
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  time.Duration(h.ValueAtQuantile(50)),
		P99:  time.Duration(h.ValueAtQuantile(99)),
		P999: time.Duration(h.ValueAtQuantile(99.9)),
	}
}

// meter measures an interval: wall time and the process's user and system
// CPU time (getrusage deltas).
type meter struct {
	start     time.Time
	user, sys time.Duration
}

func startMeter() meter {
	u, s, _ := processCPU()
	return meter{start: time.Now(), user: u, sys: s}
}

// stop returns the wall time from start to end, and the user and system
// CPU time from start to now.
func (m meter) stop(end time.Time) (wall, user, sys time.Duration) {
	wall = end.Sub(m.start)
	u, s, ok := processCPU()
	if !ok {
		return wall, 0, 0
	}
	return wall, u - m.user, s - m.sys
}

func itoa(n int) string { return strconv.Itoa(n) }
