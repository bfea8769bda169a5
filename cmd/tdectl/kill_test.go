package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tde-go/tde/engine"
)

// TestReencryptKilled runs tdectl reencrypt as a process and kills it
// (SIGKILL: no cleanup runs) after k files, or in the middle of a later
// file (its partial copy on disk), or after the last file but before the
// unused data keys are dropped. Every value must read back right after the kill; a
// second tdectl reencrypt must finish the job, with every file under the
// active key, one data key left, no partial copy on disk, and every value
// read back again.
func TestReencryptKilled(t *testing.T) {
	midFile := 0
	for _, c := range []struct {
		k       int
		partial bool
	}{{0, false}, {1, false}, {4, false}, {0, true}, {2, true}, {5, true}} {
		t.Run(fmt.Sprintf("k=%d,partial=%v", c.k, c.partial), func(t *testing.T) {
			s := newMixedStore(t)
			flags := []string{"--store", s.dir, "--config", s.config}
			mustTdectl(t, append([]string{"rotate", "data-key"}, flags...)...)
			before := status(t, flags...)
			todo := before.Usage.Older.Files + before.Usage.Plaintext.Files
			if todo <= c.k+1 {
				t.Fatalf("only %d files to re-encrypt; the test needs more than %d", todo, c.k+1)
			}

			cmd := exec.Command(os.Args[0], append([]string{"reencrypt"}, flags...)...)
			cmd.Env = append(os.Environ(), "TDECTL_TEST_MAIN=1", fmt.Sprintf("TDECTL_TEST_KILL_AFTER=%d", c.k))
			if c.partial {
				cmd.Env = append(cmd.Env, "TDECTL_TEST_KILL_PARTIAL="+s.dir)
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || strings.Contains(string(out), "rewrote") {
				t.Fatalf("the reencrypt process was not killed mid-way: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), fmt.Sprintf("reencrypt: %d files", todo)) {
				t.Fatalf("the killed process did not start: %s", out)
			}
			if partial, _ := filepath.Glob(filepath.Join(s.dir, "*.tde-reencrypt")); len(partial) > 0 {
				midFile++
				t.Logf("killed in the middle of a file: %v", partial)
			} else if c.partial {
				t.Logf("killed after the last file")
			}
			mid := status(t, flags...)
			if mid.Usage.Active.Files < c.k || (!c.partial && mid.Usage.Active.Files != c.k) {
				t.Errorf("killed after %d files: %d files under the active key", c.k, mid.Usage.Active.Files)
			}
			readBack(t, s.dir, s.config, s.n)

			out2 := mustTdectl(t, append([]string{"reencrypt"}, flags...)...)
			after := status(t, flags...)
			if after.Usage.Active.FilesFraction != 1 || after.Usage.Active.BytesFraction != 1 || len(after.DataKeys) != 1 ||
				after.ActiveKey.ID != before.ActiveKey.ID {
				t.Fatalf("after resuming: %+v, keys %+v\n%s", after.Usage, after.DataKeys, out2)
			}
			left, _ := filepath.Glob(filepath.Join(s.dir, "*.tde-reencrypt"))
			if len(left) > 0 {
				t.Errorf("partial copies left: %v", left)
			}
			readBack(t, s.dir, s.config, s.n)
		})
	}
	t.Logf("%d of the kills hit the middle of a file", midFile)
}

// TestReencryptInterrupted: an interrupt (Ctrl-C: the context cancelled)
// stops reencrypt with status 1 and a hint; running it again finishes.
func TestReencryptInterrupted(t *testing.T) {
	s := newMixedStore(t)
	flags := []string{"--store", s.dir, "--config", s.config}
	before := status(t, flags...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var o, e strings.Builder
	a := &app{stdout: &o, stderr: &e, progressHook: func(p engine.Progress) {
		if p.FilesDone == 2 {
			cancel()
		}
	}}
	code := a.run(ctx, append([]string{"reencrypt"}, flags...))
	if code != exitFailed || !strings.Contains(e.String(), "context canceled") || !strings.Contains(e.String(), "run the same command again") ||
		!strings.Contains(o.String(), "rewrote 2 files") || !strings.Contains(o.String(), "before stopping") {
		t.Fatalf("interrupted reencrypt: exit %d\nstdout:\n%s\nstderr:\n%s", code, o.String(), e.String())
	}
	if d := status(t, flags...); d.Usage.Active.Files != before.Usage.Active.Files+2 {
		t.Errorf("interrupted after 2 files: %d files under the active key, were %d", d.Usage.Active.Files, before.Usage.Active.Files)
	}
	mustTdectl(t, append([]string{"reencrypt"}, flags...)...)
	if d := status(t, flags...); d.Usage.Active.FilesFraction != 1 {
		t.Fatalf("after the second run: %+v", d.Usage)
	}
	readBack(t, s.dir, s.config, s.n)
}
