// Command tdectl is the operator's tool for stores encrypted by tde: it
// makes master key files, reports how a store is encrypted, dumps its key
// registry and file dictionary, rotates data and master keys, re-encrypts
// every file of a closed store, migrates a store to a new encryption
// configuration in one step, and decrypts one file for recovery. It does for tde what tikv-ctl's encryption
// commands and cockroach debug encryption-* do for TiKV and CockroachDB.
//
//	tdectl keygen --format hex /etc/tde/master.key
//	tdectl status --store /var/lib/db --config tikv.toml
//	tdectl dump --store /var/lib/db --config tikv.toml --json
//	tdectl rotate data-key --store /var/lib/db --config tikv.toml
//	tdectl rotate master-key --store /var/lib/db --config tikv.toml --new file:/etc/tde/new.key --old file:/etc/tde/master.key
//	tdectl reencrypt --store /var/lib/db --config tikv.toml
//	tdectl migrate --store /var/lib/db --config new-tikv.toml --old file:/etc/tde/master.key
//	tdectl decrypt --store /var/lib/db --config tikv.toml MANIFEST-000001 --out /root/MANIFEST.plain
//
// Every command that touches a store takes Pebble's LOCK first and refuses
// a store another process has open. Exit status: 0 success, 1 the
// operation failed, 2 bad usage or input. The work is done by package
// github.com/tde-go/tde/engine; this command is flags, wiring and output.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// Exit statuses scripts can rely on.
const (
	exitOK     = 0 // the command did what it was asked
	exitFailed = 1 // the operation failed: store in use, damaged store, KMS unreachable, I/O error, interrupted
	exitUsage  = 2 // bad usage or input: flags, configuration, key files, wrong master key, not a store
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is an error in how tdectl was called: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// app is one invocation of tdectl: its output streams and global flags.
type app struct {
	stdout, stderr io.Writer
	verbose        bool
	// entered is set when a command's own code starts; an error before
	// that is cobra's: an unknown command or flag, a wrong argument count.
	entered bool
	// progressHook, if set, sees every progress report of a re-encryption
	// after it is shown. Tests set it to interrupt or kill tdectl mid-way.
	progressHook func(engine.Progress)
}

// run executes tdectl with args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&app{stdout: stdout, stderr: stderr}).run(ctx, args)
}

// run is run for an app set up by the caller (a test's, with a hook).
func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if !a.entered {
		code = exitUsage
	}
	fmt.Fprintln(a.stderr, "tdectl:", strings.TrimSuffix(err.Error(), "\n"))
	if h := hint(err); h != "" {
		fmt.Fprintln(a.stderr, "tdectl:", h)
	}
	if code == exitUsage && !a.entered {
		fmt.Fprintln(a.stderr, "Run 'tdectl --help' for usage.")
	}
	return code
}

// exitCode maps an error to the exit status: 2 for what the caller can fix
// in the command line or the files it names, 1 for everything else.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue),
		errors.Is(err, engine.ErrInvalidConfig),
		errors.Is(err, keys.ErrWrongMasterKey),
		errors.Is(err, keys.ErrInvalidKeyFile),
		errors.Is(err, keys.ErrLoosePermissions):
		return exitUsage
	}
	return exitFailed
}

// hint says what to do about the typed errors an operator meets most.
func hint(err error) string {
	switch {
	case errors.Is(err, engine.ErrStoreInUse):
		return "hint: stop the program that has the store open, or ask it: a running store reports through engine.FS.Status and the tde_* Prometheus metrics, and rotates and re-encrypts online"
	case errors.Is(err, keys.ErrMissingPreviousKey):
		return "hint: the registry is wrapped under another master key; if you are changing master keys, name the old one (--old, previous-master-key, old-key)"
	case errors.Is(err, keys.ErrWrongMasterKey):
		return "hint: neither master key given is the one the store's key registry is wrapped under; the error names the key it expects"
	case errors.Is(err, keys.ErrLoosePermissions):
		return "hint: chmod 600 the key file, or pass --allow-loose-key-permissions"
	case errors.Is(err, context.Canceled):
		return "hint: interrupted; nothing is lost, run the same command again to resume"
	case errors.Is(err, keys.ErrKMSUnavailable):
		return "hint: the KMS could not be reached; nothing was changed, try again later"
	}
	return ""
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tdectl",
		Short: "Operate stores encrypted by tde: keys, status, rotation, re-encryption",
		Long: `tdectl is the operator's tool for Pebble stores encrypted at rest by tde.

Stores are named by their directory (--store) and their encryption settings,
the same ones the program running the store uses: TiKV's
[security.encryption] table (--config tikv.toml, a whole tikv.toml or just
the table) or CockroachDB's --enterprise-encryption value
(path=…,key=…,old-key=…,rotation-period=…).

Every command that opens a store first takes Pebble's LOCK file, and
refuses a store another process has open. Opening a store is what the
program itself does at start: it may rotate the data key (period elapsed,
method or master key changed) and compact the file dictionary.

Master keys named on the command line (--new, --old):
  file:PATH        TiKV's key file: 64 hex characters and a newline
  raw:PATH         CockroachDB's key file: a 32-byte id, then a 16, 24 or 32-byte key
  kms:KEY-ID[,region=REGION][,endpoint=URL][,allow-insecure-endpoint=true]
                   a key in AWS KMS or a KMS-compatible server; credentials
                   come from the AWS SDK's chain (environment, profiles, roles);
                   an http:// endpoint needs allow-insecure-endpoint=true
  plaintext        no master key (the registry is stored unwrapped)

Exit status:
  0  success
  1  the operation failed: the store is in use, the store is damaged, a KMS
     is unreachable, an I/O error, interrupted (run it again to resume)
  2  bad usage or input: unknown command or flag, missing or invalid flag
     value, a configuration or key file that cannot be used, a wrong master
     key, a directory that is not a store, a key file that already exists`,
		Example: `  tdectl keygen /etc/tde/master.key
  tdectl status --store /var/lib/db --config /etc/tikv/tikv.toml
  tdectl reencrypt --store /var/lib/db --enterprise-encryption path=/var/lib/db,key=/keys/aes-256.key,old-key=plain`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log what the engine does (key rotations, dictionary compaction), not only warnings")
	root.AddCommand(a.newKeygenCmd(), a.newStatusCmd(), a.newDumpCmd(), a.newRotateCmd(), a.newReencryptCmd(), a.newMigrateCmd(), a.newDecryptCmd())
	return root
}

// action marks the command's own code as started, for exitCode.
func (a *app) action(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.entered = true
		return fn(cmd, args)
	}
}

// noArgs refuses positional arguments with a message naming them.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q (flags start with --)", cmd.CommandPath(), args)
	}
	return nil
}
