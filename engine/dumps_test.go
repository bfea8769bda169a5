package engine

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tde-go/tde/internal/secmem"
)

// TestWarnKeyMemoryOnce: a failure to lock key memory is logged, once per
// process however many stores open, and a full protection logs nothing.
func TestWarnKeyMemoryOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var warned atomic.Bool
	warnKeyMemory(log, secmem.State{NoDump: true, Locked: true}, &warned)
	if buf.Len() != 0 {
		t.Fatalf("logged with every protection in place: %s", buf.String())
	}
	st := secmem.State{NoDump: true, Locked: false, Err: errors.New("secmem: mlock of 16384 bytes: cannot allocate memory")}
	for range 3 {
		warnKeyMemory(log, st, &warned)
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for three stores, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "locked_against_swap=false") || !strings.Contains(buf.String(), "mlock") {
		t.Errorf("warning does not say what is missing and why: %s", buf.String())
	}
}
