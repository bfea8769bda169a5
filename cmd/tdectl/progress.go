package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tde-go/tde/engine"
	"golang.org/x/term"
)

// progress shows a re-encryption as it goes: a bar on a terminal, plain
// lines otherwise (logs, pipes): the total first, then at most one line a
// second, and the last.
type progress struct {
	w     io.Writer
	quiet bool
	bar   *progressbar.ProgressBar
	last  time.Time
	every time.Duration
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet, every: time.Second}
	if f, ok := w.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(pr engine.Progress) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		p.bar.ChangeMax64(max(pr.Bytes, 1))
		p.bar.Describe(fmt.Sprintf("file %d/%d %s", pr.FilesDone, pr.Files, pr.Current))
		if pr.FilesDone == 0 {
			_ = p.bar.RenderBlank()
		} else {
			_ = p.bar.Set64(pr.BytesDone)
		}
		return
	}
	now := time.Now()
	switch {
	case pr.FilesDone == 0:
		fmt.Fprintf(p.w, "reencrypt: %s, %s to rewrite\n", plural(pr.Files, "file", "files"), formatBytes(pr.Bytes))
		p.last = now
		return
	case pr.FilesDone < pr.Files && now.Sub(p.last) < p.every:
		return
	}
	p.last = now
	pct := 100.0
	if pr.Bytes > 0 {
		pct = 100 * float64(pr.BytesDone) / float64(pr.Bytes)
	}
	fmt.Fprintf(p.w, "reencrypt: %d/%d files, %s/%s (%.0f%%) %s\n",
		pr.FilesDone, pr.Files, formatBytes(pr.BytesDone), formatBytes(pr.Bytes), pct, pr.Current)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
