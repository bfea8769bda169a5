package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestMarkdownTable(t *testing.T) {
	base := []int64{100000, 110000, 120000, 130000, 140000, 150000}
	r := NewReport(testEnv(), testSettings(len(base)), handRuns(base,
		map[Method]float64{MethodAES128CTR: 1.05, MethodSM4CTR: 1.5},
		map[Method]float64{MethodAES128CTR: 1.1, MethodSM4CTR: 1.25}))
	var buf bytes.Buffer
	if err := r.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if !strings.HasPrefix(lines[0], "| workload | method | ops/s | MB/s | CPU s/GB | p99 | overhead") {
		t.Fatalf("header %q", lines[0])
	}
	rows := map[string][]string{}
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if len(cells) != 8 {
			t.Fatalf("row %q has %d cells, want 8", l, len(cells))
		}
		rows[cells[0]+"/"+cells[1]] = cells
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6 (2 workloads × 3 methods):\n%s", len(rows), buf.String())
	}
	p := rows["fillseq/plaintext"]
	// Median of 100k…150k is 125k ops/s; 116 B per op is 14.5 MB/s; p99 10µs.
	if p[2] != "125k" || p[3] != "14.5" || p[5] != "10.0µs" || p[6] != "baseline" || p[7] != "baseline" {
		t.Errorf("plaintext row %q", p)
	}
	a := rows["readrandom/aes128-ctr"]
	if !strings.HasPrefix(a[6], "+5.0% [+") || !strings.HasPrefix(a[7], "+10.0% [") {
		t.Errorf("aes128-ctr overheads %q and %q, want +5.0%% and +10.0%% with intervals", a[6], a[7])
	}
	if s := rows["fillseq/sm4-ctr"]; !strings.HasPrefix(s[6], "+50.0% [") {
		t.Errorf("sm4-ctr overhead %q, want +50.0%%", s[6])
	}

	// Too few rounds for an interval: marked, and explained.
	r3 := NewReport(testEnv(), testSettings(3), handRuns(base[:3], map[Method]float64{MethodAES128CTR: 1.05, MethodSM4CTR: 1.5}, nil))
	buf.Reset()
	if err := r3.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "+5.0% [?]") || !strings.Contains(buf.String(), "needs at least 6 rounds") {
		t.Errorf("3 rounds: want \"[?]\" and an explanation:\n%s", buf.String())
	}
}
