package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tde-go/tde/bench"
	"golang.org/x/term"
)

// progress shows a benchmark's runs as they finish: a bar on a terminal,
// one plain line per run otherwise (CI logs, pipes), so a log still tells
// where a slow or failed run was.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	start time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(pr bench.Progress) {
	if pr.Done == 0 {
		if p.bar != nil {
			p.bar.ChangeMax(pr.Total)
			_ = p.bar.RenderBlank()
		} else {
			fmt.Fprintf(p.w, "tdebench: %d runs\n", pr.Total)
		}
		return
	}
	r := pr.Run
	desc := fmt.Sprintf("round %d %-10s %-10s", r.Round, r.Workload, r.Method)
	if p.bar != nil {
		p.bar.ChangeMax(pr.Total)
		p.bar.Describe(desc)
		_ = p.bar.Set(pr.Done)
		return
	}
	fmt.Fprintf(p.w, "[%*d/%d %6.1fs] %s %9.0f ops/s %7.1f MB/s %6.2f cpu-s/GB p99 %v\n",
		len(fmt.Sprint(pr.Total)), pr.Done, pr.Total, time.Since(p.start).Seconds(), desc,
		r.OpsPerSec(), r.MBPerSec(), r.CPUSecPerGB(), r.Latency.P99)
}

// log prints a line, above the bar on a terminal.
func (p *progress) log(line string) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
