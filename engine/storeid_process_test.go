package engine

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

const holdStoreEnv = "TDE_TEST_HOLD_STORE"

// TestHelperHoldStore is not a test: run by TestOpenHeldByAnotherProcess
// in a child process, it opens the store named in its environment, says
// "open" and holds it until its standard input closes.
func TestHelperHoldStore(t *testing.T) {
	dir := os.Getenv(holdStoreEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.MasterKey.Path = os.Getenv(holdStoreEnv + "_KEY")
	f, err := Open(vfs.Default, dir, cfg)
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("open\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	f.Close()
	os.Exit(0)
}

// TestOpenHeldByAnotherProcess: a store another process has open is
// ErrStoreInUse (a *StoreInUseError naming TDE-LOCK), writable or
// read-only, and nothing in it changes.
func TestOpenHeldByAnotherProcess(t *testing.T) {
	dir := t.TempDir() + "/s"
	cfg := testConfig(t, keys.MethodAES128CTR)
	mustClose(t, mustOpen(t, vfs.Default, dir, cfg))

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldStore$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdStoreEnv+"="+dir, holdStoreEnv+"_KEY="+cfg.MasterKey.Path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "open\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	before := dirState(t, vfs.Default, dir)
	for _, ro := range []bool{false, true} {
		c := cfg
		c.ReadOnly = ro
		f, err := Open(vfs.Default, dir, c)
		if err == nil {
			f.Close()
			t.Fatalf("Open (read-only %v) of a store another process holds succeeded", ro)
		}
		var inUse *StoreInUseError
		if !errors.Is(err, ErrStoreInUse) || !errors.As(err, &inUse) || !strings.HasSuffix(inUse.Lock, lockFile) {
			t.Fatalf("Open (read-only %v) = %v, want a *StoreInUseError naming %s", ro, err, lockFile)
		}
	}
	if after := dirState(t, vfs.Default, dir); after != before {
		t.Fatalf("a refused Open changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
