package bench

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/tde-go/tde/keys"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

// TestOverheadSameRound: each encrypted run is compared with the plaintext
// run of its own round. Plaintext throughput differs tenfold between
// rounds; an overhead taken against another round's plaintext, or an
// average, would be far off.
func TestOverheadSameRound(t *testing.T) {
	base := []int64{100000, 10000, 50000}
	runs := handRuns(base, map[Method]float64{MethodAES128CTR: 1.25, MethodSM4CTR: 2},
		map[Method]float64{MethodAES128CTR: 1.1, MethodSM4CTR: 1.5})
	ovs := Overheads(runs)
	if len(ovs) != 2*2*len(base) {
		t.Fatalf("%d overheads, want %d", len(ovs), 2*2*len(base))
	}
	for _, o := range ovs {
		want, wantCPU := 25.0, 10.0
		if o.Method == MethodSM4CTR {
			want, wantCPU = 100, 50
		}
		if math.Abs(o.Time-want) > 0.01 || math.Abs(o.CPU-wantCPU) > 0.01 {
			t.Errorf("%s %v round %d: overhead %.3f%% CPU %.3f%%, want %v%% and %v%%", o.Workload, o.Method, o.Round, o.Time, o.CPU, want, wantCPU)
		}
	}
	// Canonical order: workload, method, round.
	if o := ovs[0]; o.Workload != FillSeq || o.Method != MethodAES128CTR || o.Round != 1 {
		t.Errorf("first overhead %+v, want fillseq aes128-ctr round 1", o)
	}

	// Swap one round's plaintext for a faster one: only that round moves.
	for i := range runs {
		if runs[i].Method == MethodPlaintext && runs[i].Round == 2 && runs[i].Workload == FillSeq {
			runs[i].Ops *= 2
		}
	}
	for _, o := range Overheads(runs) {
		want := 25.0
		if o.Method == MethodSM4CTR {
			want = 100
		}
		if o.Workload == FillSeq && o.Round == 2 {
			want = (2*(want/100+1) - 1) * 100
		}
		if math.Abs(o.Time-want) > 0.1 {
			t.Errorf("after the change: %s %v round %d: %.2f%%, want %.2f%%", o.Workload, o.Method, o.Round, o.Time, want)
		}
	}
}

func TestOverheadNeedsPlaintext(t *testing.T) {
	runs := handRuns([]int64{1000, 1000}, map[Method]float64{MethodAES128CTR: 1.5, MethodSM4CTR: 1.5}, nil)
	var kept []Run
	for _, r := range runs {
		if !(r.Method == MethodPlaintext && r.Round == 2) {
			kept = append(kept, r)
		}
	}
	for _, o := range Overheads(kept) {
		if o.Round == 2 {
			t.Fatalf("overhead %+v computed without a plaintext run in its round", o)
		}
	}
}

func TestSummaries(t *testing.T) {
	base := []int64{1000, 1100, 1200, 1300, 1400, 1500}
	runs := handRuns(base, map[Method]float64{MethodAES128CTR: 1.1, MethodSM4CTR: 1.3}, map[Method]float64{MethodAES128CTR: 1, MethodSM4CTR: 1})
	r := NewReport(testEnv(), testSettings(len(base)), runs)
	if len(r.Summaries) != 2*3 {
		t.Fatalf("%d summaries, want 6", len(r.Summaries))
	}
	for _, s := range r.Summaries {
		if s.Rounds != len(base) {
			t.Errorf("%s %v: %d rounds", s.Workload, s.Method, s.Rounds)
		}
		if s.Method == MethodPlaintext {
			if s.Overhead != nil {
				t.Errorf("%s plaintext has an overhead", s.Workload)
			}
			if !near(s.OpsPerSec, 1250) {
				t.Errorf("%s plaintext median ops/s %v, want 1250", s.Workload, s.OpsPerSec)
			}
			continue
		}
		if s.Overhead == nil || !s.Overhead.Bounded() {
			t.Fatalf("%s %v: overhead %+v, want a bounded interval with 6 rounds", s.Workload, s.Method, s.Overhead)
		}
		want := 10.0
		if s.Method == MethodSM4CTR {
			want = 30
		}
		if math.Abs(s.Overhead.Median-want) > 0.2 || *s.Overhead.Lo > s.Overhead.Median || *s.Overhead.Hi < s.Overhead.Median {
			t.Errorf("%s %v: overhead %v [%v, %v], want about %v", s.Workload, s.Method, s.Overhead.Median, *s.Overhead.Lo, *s.Overhead.Hi, want)
		}
	}
	// Three rounds are too few for a 95% interval: the bounds are absent,
	// not infinite (which JSON cannot hold).
	r3 := NewReport(testEnv(), testSettings(3), handRuns(base[:3], map[Method]float64{MethodAES128CTR: 1.1, MethodSM4CTR: 1.3}, nil))
	for _, s := range r3.Summaries {
		if s.Overhead != nil && s.Overhead.Bounded() {
			t.Errorf("%s %v: bounded interval from 3 rounds", s.Workload, s.Method)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, rounds := range []int{3, 6} {
		base := []int64{1000, 1100, 1200, 1300, 1400, 1500}[:rounds]
		r := NewReport(testEnv(), testSettings(rounds), handRuns(base, map[Method]float64{MethodAES128CTR: 1.1, MethodSM4CTR: 1.3}, map[Method]float64{MethodAES128CTR: 1.2, MethodSM4CTR: 1.4}))
		r.Cipher = []CipherResult{{Method: keys.MethodAES128CTR, Impl: "tde", Backend: "vaes-zmm", Size: 16384, Iters: 1000, NsPerOp: 400, MBPerSec: 40960}}
		var buf bytes.Buffer
		if err := r.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(buf.Bytes(), []byte(`"method": "aes128-ctr"`)) {
			t.Errorf("methods are not written by name:\n%.400s", buf.String())
		}
		got, err := ReadJSON(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("JSON round trip with %d rounds differs:\n got %+v\nwant %+v", rounds, got, r)
		}
	}
}
