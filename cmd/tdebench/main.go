// Command tdebench prices transparent data encryption on Pebble: it runs
// workloads on plaintext storage and through tde's engine for every
// encryption method, side by side, and reports throughput, CPU per GB,
// latency and each method's overhead over plaintext; it measures the raw
// CTR kernels; and it gates CI on the overheads against a committed
// baseline.
//
//	tdebench run --short               # ~1 min comparison, prints the table (make bench)
//	tdebench run --out results         # the full run, published under results/<date>-<cpu>/
//	tdebench cipher                    # AES-CTR and SM4-CTR kernels beside crypto/cipher and gmsm
//	tdebench gate --baseline results/baseline.txt --threshold 3% --run --short
//
// The work is done by package github.com/tde-go/tde/bench; this command is
// flags, wiring and output.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit status other than 1 (errors) out of a
// command: the gate exits 1 on a regression and 2 when it cannot compare.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes tdebench with args and returns the exit status: 0 success,
// 1 a failed command or a regression found by the gate, 2 bad usage or
// files the gate cannot compare.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "tdebench:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "tdebench:", err)
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "tdebench",
		Short: "Price encryption at rest on Pebble: every method against plaintext",
		Long: `tdebench measures what transparent data encryption costs a Pebble store.

"plaintext" is Pebble on the bare disk, with no tde at all; every other
method (aes128-ctr, aes192-ctr, aes256-ctr, sm4-ctr) is Pebble on tde's
engine over the same disk; "gocryptfs" is Pebble on a gocryptfs FUSE mount.
Runs are interleaved in short slices: every method's store is open at
once, every round runs one slice of a workload per method in a fresh
random order, and each method's overhead is taken against the plaintext
slice of the same round. Overheads are summarized over rounds by their
Hodges-Lehmann center with a 95% confidence interval (Wilcoxon
signed-rank, on the log of the ratios); where the stores were made
several times (--builds), by the mean of the builds' centers with a
Student t interval over the builds, since a store keeps a speed of its
own for as long as it lives.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Bad flags are usage errors: exit status 2, as for the gate's.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{2, err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr), newCipherCmd(stdout, stderr), newGateCmd(stdout, stderr))
	return root
}
