package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// methodColors gives every encrypted method a fixed colour, so charts of
// different runs read alike.
var methodColors = map[Method]color.RGBA{
	MethodAES128CTR: {0x1f, 0x77, 0xb4, 0xff},
	MethodAES192CTR: {0x2c, 0xa0, 0x2c, 0xff},
	MethodAES256CTR: {0xff, 0x7f, 0x0e, 0xff},
	MethodSM4CTR:    {0xd6, 0x27, 0x28, 0xff},
	MethodGocryptfs: {0x94, 0x67, 0xbd, 0xff},
}

// WriteChart draws the overhead (overheadInterval) of every encrypted
// method in every workload as grouped bars (one group per workload, one
// bar per method) and writes it as SVG.
func (r *Report) WriteChart(w io.Writer) error { return r.writeChart(w, "svg") }

func (r *Report) writeChart(w io.Writer, format string) error {
	var workloads []Workload
	var methods []Method
	ivs := map[Pair]Interval{}
	for _, s := range r.Summaries {
		if s.Overhead == nil {
			continue
		}
		if !slices.Contains(workloads, s.Workload) {
			workloads = append(workloads, s.Workload)
		}
		if !slices.Contains(methods, s.Method) {
			methods = append(methods, s.Method)
		}
		ivs[Pair{string(s.Workload), s.Method.String()}] = *s.Overhead
	}
	if len(workloads) == 0 {
		return fmt.Errorf("bench: no overheads to chart (only plaintext ran?)")
	}
	slices.Sort(methods)

	p := plot.New()
	p.Title.Text = fmt.Sprintf("tde on Pebble: overhead against plaintext, %s", r.Env.CPU)
	// The label stays short: a rotated label longer than the plot is tall
	// squeezes the plot away (gonum/plot lays it out beside the axis).
	// The rounds and builds are in the README beside the chart.
	p.Y.Label.Text = "extra time per op, % (95% CI)"
	p.Add(plotter.NewGrid())
	const barWidth = 11
	for i, m := range methods {
		vals := make(plotter.Values, len(workloads))
		wh := &whiskers{}
		for j, wl := range workloads {
			iv := ivs[Pair{string(wl), m.String()}]
			vals[j] = iv.Median
			if iv.Bounded() {
				wh.x = append(wh.x, float64(j))
				wh.lo = append(wh.lo, *iv.Lo)
				wh.hi = append(wh.hi, *iv.Hi)
			}
		}
		bc, err := plotter.NewBarChart(vals, vg.Points(barWidth))
		if err != nil {
			return err
		}
		bc.Color = methodColor(m)
		bc.LineStyle.Width = 0
		bc.Offset = vg.Points(barWidth * (float64(i) - float64(len(methods)-1)/2))
		wh.offset = bc.Offset
		p.Add(bc, wh)
		p.Legend.Add(m.String(), bc)
	}
	names := make([]string, len(workloads))
	for i, wl := range workloads {
		names[i] = string(wl)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(workloads))-0.4
	p.Legend.Top = true
	p.Legend.Left = true
	// Bars start at zero; leave room above the tallest for the legend.
	p.Y.Min = min(p.Y.Min, 0)
	p.Y.Max = max(p.Y.Max, 1)
	p.Y.Max += (p.Y.Max - p.Y.Min) * 0.35
	width := vg.Points(float64(len(workloads)*(len(methods)+2)*barWidth) + 120)
	wt, err := p.WriterTo(max(width, 6*vg.Inch), 4*vg.Inch, format)
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

func methodColor(m Method) color.RGBA {
	if c, ok := methodColors[m]; ok {
		return c
	}
	return color.RGBA{0x7f, 0x7f, 0x7f, 0xff}
}

// whiskers draws the confidence interval of each bar of one method as a
// vertical line through it. gonum's error bars place points in data
// coordinates, but grouped bars are offset in points; this uses the bar
// chart's offset.
type whiskers struct {
	x, lo, hi []float64
	offset    vg.Length
}

func (w *whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	style := draw.LineStyle{Color: color.Black, Width: vg.Points(0.8)}
	cap := vg.Points(2.5)
	for i, x := range w.x {
		px := trX(x) + w.offset
		lo, hi := trY(w.lo[i]), trY(w.hi[i])
		c.StrokeLine2(style, px, lo, px, hi)
		c.StrokeLine2(style, px-cap, lo, px+cap, lo)
		c.StrokeLine2(style, px-cap, hi, px+cap, hi)
	}
}

// DataRange makes the axes include the whiskers.
func (w *whiskers) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i, x := range w.x {
		xmin, xmax = min(xmin, x), max(xmax, x)
		ymin, ymax = min(ymin, w.lo[i]), max(ymax, w.hi[i])
	}
	if len(w.x) == 0 {
		return 0, 0, 0, 0
	}
	return xmin, xmax, ymin, ymax
}
