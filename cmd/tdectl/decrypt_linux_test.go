package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDecryptRefusesTerminal: with standard output a terminal (a pty's
// far end) and no --out, decrypt refuses before it opens the store: exit
// 2, and not a byte reaches the terminal.
func TestDecryptRefusesTerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()

	s := newMixedStore(t)
	before := snapshot(t, s.dir)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"decrypt", "--store", s.dir, "--config", s.config, "CURRENT"}, tty, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "refusing to write plaintext to a terminal") {
		t.Errorf("decrypt to a terminal: exit %d, stderr %q", code, stderr.String())
	}
	// Anything written to the terminal would be readable at the pty's
	// near end: wait a little for it.
	fds := []unix.PollFd{{Fd: int32(ptmx.Fd()), Events: unix.POLLIN}}
	if k, err := unix.Poll(fds, 100); err != nil || k > 0 {
		t.Errorf("decrypt wrote to the terminal (poll: %d, %v)", k, err)
	}
	if d := snapshotDiff(before, snapshot(t, s.dir)); d != "" {
		t.Errorf("a refused decrypt changed the store:\n%s", d)
	}
}
