package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

const plaintextWarning = `WARNING: the store's method is plaintext: re-encrypting rewrites every
encrypted file UNENCRYPTED. This disables encryption at rest for the data
already written. If that is not what you want, interrupt now (Ctrl-C: the
files rewritten so far stay readable) and fix data-encryption-method.`

func (a *app) newReencryptCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "reencrypt --store DIR (--config FILE | --enterprise-encryption SPEC) [--quiet]",
		Short: "Rewrite every file of a closed store under the active data key",
		Long: `reencrypt rewrites every file of a closed store that is not under the
active data key, so that the store is wholly under it: tables, blob files,
WALs, MANIFESTs, OPTIONS and Pebble's markers, and files in subdirectories
(checkpoints). Files outside the store directory that the file dictionary
knows (a WAL directory elsewhere) are not rewritten: they are listed as
skipped, and keep their key until Pebble rolls them. Old data keys no file
uses any more are then dropped.

Use it after enabling encryption on a store that had plaintext files, after
rotating a data key or the master key (which makes a new data key), after
changing the method, and to disable encryption: with the method set to
plaintext it rewrites every file unencrypted (with a warning).

Each file is copied to NAME.tde-reencrypt under the active key, synced and
renamed over the original, its dictionary entry moving first; nothing is
lost if tdectl is killed or the machine loses power at any point. Run it
again to resume: files already under the active key are skipped, and the
partial copy of the interrupted file is removed when the store is opened.

Progress goes to stderr: a bar on a terminal, a line a second otherwise
(--quiet for none). A running store re-encrypts its tables online instead:
engine.FS.Reencrypt.`,
		Example: `  tdectl reencrypt --store /var/lib/tikv/db --config /etc/tikv/tikv.toml
  tdectl reencrypt --enterprise-encryption path=/mnt/data1,key=/keys/aes-256.key,old-key=/keys/aes-256.key --quiet`,
		Args: noArgs,
	}
	sf := addStoreFlags(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		return a.withStore(sf, pebbleStore, func(s *session, cfg engine.Config) error {
			_, err := a.reencrypt(commandContext(cmd), s.fs, s.dir, quiet)
			return err
		})
	})
	return cmd
}

// reencryptResult is what a re-encryption did.
type reencryptResult struct {
	files       int
	bytes       int64
	droppedKeys int
	skipped     []string // outside the store directory, left alone
	after       engine.Status
}

// reencrypt runs ReencryptAll on the open store with progress, and prints
// what it did.
func (a *app) reencrypt(ctx context.Context, fs *engine.FS, dir string, quiet bool) (reencryptResult, error) {
	var r reencryptResult
	before := fs.Status()
	if before.Method == keys.MethodPlaintext && before.Total().Files > before.Plaintext.Files {
		fmt.Fprintln(a.stderr, "tdectl:", plaintextWarning)
	}
	p := newProgress(a.stderr, quiet)
	err := fs.ReencryptAll(ctx, func(pr engine.Progress) {
		p.update(pr)
		r.files, r.bytes, r.skipped = pr.FilesDone, pr.BytesDone, pr.Skipped
		if a.progressHook != nil {
			a.progressHook(pr)
		}
	})
	p.finish()
	if err != nil {
		if r.files > 0 {
			fmt.Fprintf(a.stdout, "rewrote %s (%s) of %s before stopping\n", plural(r.files, "file", "files"), formatBytes(r.bytes), dir)
		}
		a.reportSkipped(dir, r.skipped)
		return r, fmt.Errorf("re-encrypting %s: %w", dir, err)
	}
	r.after = fs.Status()
	r.droppedKeys = len(before.Keys) - len(r.after.Keys)

	under := fmt.Sprintf("under data key %s (%s)", keys.FormatID(r.after.ActiveKey.ID), r.after.Method)
	if r.after.Method == keys.MethodPlaintext {
		under = "unencrypted (method plaintext)"
	}
	if r.files == 0 {
		fmt.Fprintf(a.stdout, "nothing to do: every file of %s is already %s\n", dir, under)
	} else {
		fmt.Fprintf(a.stdout, "rewrote %s (%s) of %s %s\n", plural(r.files, "file", "files"), formatBytes(r.bytes), dir, under)
	}
	if r.droppedKeys > 0 {
		fmt.Fprintf(a.stdout, "dropped %s no file uses any more\n", plural(r.droppedKeys, "data key", "data keys"))
	}
	a.reportSkipped(dir, r.skipped)
	return r, nil
}

// reportSkipped names the files outside the store directory that a
// re-encryption left under their old keys.
func (a *app) reportSkipped(dir string, skipped []string) {
	if len(skipped) == 0 {
		return
	}
	fmt.Fprintf(a.stdout, "skipped %s outside %s, left under their old keys (only the store directory tree is rewritten; Pebble moves WALs to the active key as it rolls them):\n",
		plural(len(skipped), "file", "files"), dir)
	for _, rel := range skipped {
		fmt.Fprintf(a.stdout, "  %s\n", rel)
	}
}

func (a *app) newMigrateCmd() *cobra.Command {
	var oldSpec string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "migrate --store DIR (--config FILE | --enterprise-encryption SPEC) [--old KEY] [--quiet]",
		Short: "Bring a closed store wholly under new encryption settings, in one step",
		Long: `migrate brings a closed store wholly under the encryption settings given,
whatever it was before: a Pebble store tde never opened (plaintext), another
method, another master key, encrypted to be decrypted. Afterwards the key
registry is wrapped under the settings' master key, the active data key has
the settings' method, and every file is under it (or plaintext, if the
method is plaintext); data keys no file uses are dropped. Files outside the
store directory (a WAL directory elsewhere) are the exception: they are
listed as skipped and keep their key until Pebble rolls them.

It opens the store with the settings (the previous master key is --old, or
the settings' previous master key: the one the registry is wrapped under
now), re-encrypts every file as tdectl reencrypt does (resumable: run it
again after an interruption), then checks its work: the settings alone,
without a previous master key, open the store, and no file is left under an
older key or, unless the method is plaintext, unencrypted.

Keys: file:PATH, raw:PATH, kms:KEY-ID[,region=R][,endpoint=URL][,allow-insecure-endpoint=true], plaintext.`,
		Example: `  # encrypt a plaintext Pebble store offline, at once
  tdectl migrate --store /var/lib/db --config /etc/tde/aes256.toml

  # to SM4 under KMS, from AES under a key file
  tdectl migrate --store /var/lib/db --config /etc/tde/sm4-kms.toml --old file:/etc/tde/master.key

  # decrypt: method plaintext, master key plaintext
  tdectl migrate --store /var/lib/db --config /etc/tde/off.toml --old file:/etc/tde/master.key`,
		Args: noArgs,
	}
	sf := addStoreFlags(cmd)
	cmd.Flags().StringVar(&oldSpec, "old", "", "the master key the registry is wrapped under now (default: the settings' previous master key)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		dir, cfg, err := sf.load()
		if err != nil {
			return err
		}
		if oldSpec != "" {
			if cfg.PreviousMasterKey, err = parseKeySpec("old", oldSpec); err != nil {
				return err
			}
		}
		if err := checkStore(dir, pebbleStore); err != nil {
			return err
		}
		lock, err := lockStore(dir)
		if err != nil {
			return err
		}
		defer lock.Close()
		return a.migrate(commandContext(cmd), dir, cfg, quiet)
	})
	return cmd
}

// migrate re-encrypts the locked store dir under cfg and checks that cfg
// alone opens it with every file under the active key.
func (a *app) migrate(ctx context.Context, dir string, cfg engine.Config, quiet bool) error {
	fs, err := a.openLocked(dir, cfg)
	if err != nil {
		return err
	}
	r, err := a.reencrypt(ctx, fs, dir, quiet)
	if cerr := fs.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing store %s: %w", dir, cerr)
	}
	if err != nil {
		return err
	}

	alone := cfg
	alone.PreviousMasterKey = engine.MasterKeyConfig{}
	fs, err = a.openLocked(dir, alone)
	if err != nil {
		return fmt.Errorf("checking the migration: the settings without a previous master key do not open %s: %w", dir, err)
	}
	st := fs.Status()
	if err := fs.Close(); err != nil {
		return fmt.Errorf("closing store %s: %w", dir, err)
	}
	// The files outside the store directory were left alone on purpose
	// (listed above).
	if left := st.NotUnderActiveKey(r.skipped); left.Files > 0 {
		return fmt.Errorf("checking the migration: %s (%s) of %s not under the active key; run tdectl migrate again",
			plural(left.Files, "file is", "files are"), formatBytes(left.Bytes), dir)
	}
	if st.Method == keys.MethodPlaintext {
		fmt.Fprintf(a.stdout, "migrated %s: every file is plaintext; the registry is wrapped under %s\n", dir, st.MasterKey)
	} else {
		fmt.Fprintf(a.stdout, "migrated %s: every file is under data key %s (%s); the registry is wrapped under %s\n",
			dir, keys.FormatID(st.ActiveKey.ID), st.Method, st.MasterKey)
	}
	fmt.Fprintf(a.stdout, "checked: the settings alone, without a previous master key, open the store\n")
	return nil
}
