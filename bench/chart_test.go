package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestChart: the SVG is well-formed XML, and each method has one bar per
// workload (plus its legend swatch), in its own colour. The settings are
// those of a full run, whose long description of the rounds once went
// into the axis label and squeezed the plot to nothing: the published
// charts of 2026-12-05 (-2, -3) had their legends and no bars.
func TestChart(t *testing.T) {
	runs := handRuns([]int64{1000, 1100, 1200, 1300, 1400, 1500},
		map[Method]float64{MethodAES128CTR: 1.05, MethodSM4CTR: 1.5}, nil)
	// A third workload where aes128-ctr is faster than plaintext: its bar
	// goes below zero and must still be drawn.
	for _, r := range runs {
		if r.Workload == FillSeq {
			r.Workload = Scan
			if r.Method == MethodAES128CTR {
				r.Ops = r.Ops * 11 / 10
			}
			runs = append(runs, r)
		}
	}
	s := testSettings(6)
	s.Workloads = []string{"fillseq", "fillrandom", "overwrite", "readrandom", "scan", "mixed"}
	s.WorkloadRounds = map[Workload]int{FillSeq: 50, Overwrite: 50, ReadRandom: 250, Scan: 250, Mixed: 50}
	s.Builds = 12
	rep := NewReport(testEnv(), s, runs)
	var buf bytes.Buffer
	if err := rep.WriteChart(&buf); err != nil {
		t.Fatal(err)
	}
	fills := map[string]int{}
	texts := ""
	var labels []string
	dec := xml.NewDecoder(&buf)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local != "path" {
				continue
			}
			for _, a := range el.Attr {
				if a.Name.Local == "style" {
					for _, decl := range strings.Split(a.Value, ";") {
						if v, ok := strings.CutPrefix(decl, "fill:"); ok {
							fills[strings.ToUpper(v)]++
						}
					}
				}
			}
		case xml.CharData:
			texts += string(el) + " "
			labels = append(labels, strings.TrimSpace(string(el)))
		}
	}
	for _, m := range []Method{MethodAES128CTR, MethodSM4CTR} {
		c := methodColor(m)
		col := fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B)
		if fills[col] != 3+1 {
			t.Errorf("%v: %d shapes in %s, want 4 (3 workloads and the legend)", m, fills[col], col)
		}
		if !strings.Contains(texts, m.String()) {
			t.Errorf("no legend entry for %v", m)
		}
	}
	for _, w := range []string{"fillseq", "readrandom", "scan"} {
		if !strings.Contains(texts, w) {
			t.Errorf("no label for %s", w)
		}
	}
	if slices.Contains(labels, "plaintext") {
		t.Errorf("plaintext, the baseline, has no bar and no legend entry")
	}

	only := NewReport(testEnv(), testSettings(1), []Run{{Workload: FillSeq, Method: MethodPlaintext, Round: 1, Ops: 1, Wall: 1}})
	if err := only.WriteChart(io.Discard); err == nil {
		t.Errorf("a chart with nothing to draw: want an error")
	}
}
