package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

func (a *app) newRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate (data-key | master-key)",
		Short: "Rotate the data key or the master key of a closed store",
		Long: `rotate data-key makes a new data key active; rotate master-key rewraps the
key registry under a new master key. Both work on a closed store and change
the registry in one atomic replacement of its file.

A running store rotates online instead: data keys by their rotation period
and on engine.FS.RotateDataKey, master keys on engine.FS.RotateMasterKey.`,
		Example: `  tdectl rotate data-key --store /var/lib/tikv/db --config /etc/tikv/tikv.toml
  tdectl rotate master-key --store /var/lib/tikv/db --config /etc/tikv/tikv.toml \
      --new file:/etc/tde/master-2.key --old file:/etc/tde/master.key`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("rotate what? data-key or master-key")
			}
			return usagef("rotate %q: expected data-key or master-key", args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
		// "rotate datakey --store …": say which subcommands exist rather
		// than that rotate has no --store.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
	}
	cmd.AddCommand(a.newRotateDataKeyCmd(), a.newRotateMasterKeyCmd())
	return cmd
}

func (a *app) newRotateDataKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data-key --store DIR (--config FILE | --enterprise-encryption SPEC)",
		Short: "Make a new data key active now",
		Long: `rotate data-key makes a new data key of the store's method active now,
whatever the age of the current one. Files written from then on use it;
existing files keep their keys until Pebble rewrites them (compactions,
new WALs) or tdectl reencrypt rewrites them all. The old key stays in the
registry while any file uses it.

Under the plaintext method there is no data key to rotate: that is an error.`,
		Example: `  tdectl rotate data-key --store /var/lib/tikv/db --config /etc/tikv/tikv.toml
  tdectl rotate data-key --enterprise-encryption path=/mnt/data1,key=/keys/aes-256.key,old-key=/keys/aes-256.key`,
		Args: noArgs,
	}
	sf := addStoreFlags(cmd)
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		return a.withStore(sf, tdeStore, func(s *session, cfg engine.Config) error {
			before := s.fs.Status()
			if before.Method == keys.MethodPlaintext {
				return fmt.Errorf("store %s: the method is plaintext: there is no data key to rotate", s.dir)
			}
			if err := s.fs.RotateDataKey(); err != nil {
				return fmt.Errorf("rotating the data key of %s: %w", s.dir, err)
			}
			after := s.fs.Status()
			fmt.Fprintf(a.stdout, "rotated the data key of %s: %s (%s) is active, was %s\n",
				s.dir, keys.FormatID(after.ActiveKey.ID), after.Method, keys.FormatID(before.ActiveKey.ID))
			if n := after.Older.Files + after.Plaintext.Files; n > 0 {
				fmt.Fprintf(a.stdout, "%s (%s) keep their older keys or stay plaintext until rewritten: tdectl reencrypt rewrites them now\n",
					plural(n, "file", "files"), formatBytes(after.Older.Bytes+after.Plaintext.Bytes))
			}
			return nil
		})
	})
	return cmd
}

func (a *app) newRotateMasterKeyCmd() *cobra.Command {
	var newSpec, oldSpec string
	cmd := &cobra.Command{
		Use:   "master-key --store DIR (--config FILE | --enterprise-encryption SPEC) [--new KEY] [--old KEY]",
		Short: "Rewrap the key registry under a new master key",
		Long: `rotate master-key rewraps the store's key registry under a new master key,
atomically, and makes a new data key (a master key is changed when it may
have leaked, and with it every key it protected). The new master key is
--new, or the settings' master key (master-key, key=); the old one is --old,
or the settings' previous master key (previous-master-key, old-key=).

Then it checks its work: it reopens the store with the new master key
alone. Afterwards, name only the new key in the store's settings (the old
one is no longer needed, not even as the previous key) and keep the old key
until you have checked that the store opens.

If the registry is already wrapped under the new key, nothing is done.

Keys: file:PATH, raw:PATH, kms:KEY-ID[,region=R][,endpoint=URL][,allow-insecure-endpoint=true], plaintext.`,
		Example: `  # TiKV: move from one hex key file to another
  tdectl rotate master-key --store /var/lib/tikv/db --config /etc/tikv/tikv.toml \
      --new file:/etc/tde/master-2.key --old file:/etc/tde/master.key

  # to AWS KMS
  tdectl rotate master-key --store /var/lib/tikv/db --config /etc/tikv/tikv.toml \
      --new kms:alias/tikv-tde,region=us-west-2 --old file:/etc/tde/master.key

  # CockroachDB: the spec names both keys
  tdectl rotate master-key --enterprise-encryption path=/mnt/data1,key=/keys/new.key,old-key=/keys/old.key`,
		Args: noArgs,
	}
	sf := addStoreFlags(cmd)
	cmd.Flags().StringVar(&newSpec, "new", "", "the new master key (default: the settings' master key)")
	cmd.Flags().StringVar(&oldSpec, "old", "", "the master key the registry is wrapped under now (default: the settings' previous master key)")
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		dir, cfg, err := sf.load()
		if err != nil {
			return err
		}
		if newSpec != "" {
			if cfg.MasterKey, err = parseKeySpec("new", newSpec); err != nil {
				return err
			}
		}
		if oldSpec != "" {
			if cfg.PreviousMasterKey, err = parseKeySpec("old", oldSpec); err != nil {
				return err
			}
		}
		if err := checkStore(dir, tdeStore); err != nil {
			return err
		}
		lock, err := lockStore(dir)
		if err != nil {
			return err
		}
		defer lock.Close()
		return a.rotateMasterKey(dir, cfg)
	})
	return cmd
}

// rotateMasterKey rewraps the registry of the locked store dir under
// cfg.MasterKey, from cfg.PreviousMasterKey, and checks the result.
func (a *app) rotateMasterKey(dir string, cfg engine.Config) error {
	alone := cfg
	alone.PreviousMasterKey = engine.MasterKeyConfig{}

	// Already done? The new key alone opens a registry wrapped under it.
	fs, err := a.openLocked(dir, alone)
	if err == nil {
		st := fs.Status()
		if err := fs.Close(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "the key registry of %s is already wrapped under %s: nothing to do\n", dir, st.MasterKey)
		return nil
	}
	var wrong *keys.WrongMasterKeyError
	if !errors.As(err, &wrong) {
		return err
	}
	if cfg.PreviousMasterKey.Type == "" && cfg.PreviousMasterKey.Key == nil {
		return fmt.Errorf("%w (name the master key it is wrapped under with --old)", err)
	}

	fs, err = a.openLocked(dir, cfg)
	if err != nil {
		return err
	}
	st := fs.Status()
	if err := fs.Close(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rewrapped the key registry %s under %s (was: master key %s)\n", wrong.Path, st.MasterKey, wrong.WrappedUnder)
	if st.ActiveKey.ID != 0 {
		fmt.Fprintf(a.stdout, "new active data key %s (%s)\n", keys.FormatID(st.ActiveKey.ID), st.Method)
	}

	// Check: the new key alone opens the store now.
	fs, err = a.openLocked(dir, alone)
	if err != nil {
		return fmt.Errorf("checking the rotation: the new master key alone does not open %s: %w", dir, err)
	}
	if err := fs.Close(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "checked: the new master key alone opens the store; name only it in the store's settings from now on (keep the old key until the program has restarted with the new one)\n")
	return nil
}
