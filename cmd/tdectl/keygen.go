package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/keys"
)

func (a *app) newKeygenCmd() *cobra.Command {
	var format string
	var size int
	cmd := &cobra.Command{
		Use:   "keygen [--format hex|raw] [--size 128|192|256] FILE",
		Short: "Make a master key file (TiKV hex or CockroachDB raw), mode 0600",
		Long: `keygen writes a new random master key to FILE, created with mode 0600.
It never overwrites: if FILE exists, it fails and leaves it alone (a store
wrapped under the old key would be lost). The directory must exist.

  --format hex   TiKV's key file (master-key type "file"): 64 hex characters
                 and a newline, a 256-bit key; the only size TiKV takes.
  --format raw   CockroachDB's key file (--enterprise-encryption key=FILE, or
                 master-key type "raw"): a random 32-byte key id, then the
                 key: 48, 56 or 64 bytes for --size 128, 192 or 256. In a
                 CockroachDB spec the size also picks the data encryption
                 method (aes128-ctr, aes192-ctr, aes256-ctr).

It prints the key's description (kind, file, AES size, fingerprint id, never
the key): the id is what status and errors show for this key. Keep the key
file apart from the store's disk: it protects the store only if a stolen
disk does not carry it.`,
		Example: `  # TiKV: [security.encryption.master-key] type = "file", path = "/etc/tde/master.key"
  tdectl keygen /etc/tde/master.key

  # CockroachDB: --enterprise-encryption path=/mnt/data1,key=/keys/aes-128.key,old-key=plain
  tdectl keygen --format raw --size 128 /keys/aes-128.key

  # the same with openssl (make sure of the mode yourself):
  (umask 077; openssl rand -hex 32 > /etc/tde/master.key)   # hex
  (umask 077; openssl rand 48 > /keys/aes-128.key)           # raw, AES-128`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("keygen takes one argument, the key file to create; got %d", len(args))
			}
			return nil
		},
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			desc, err := writeKeyFile(args[0], format, size)
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(args[0])
			fmt.Fprintf(a.stdout, "wrote %s\n", desc)
			if format == "hex" {
				fmt.Fprintf(a.stdout, "TiKV: [security.encryption.master-key] type = \"file\", path = %q\n", abs)
			} else {
				fmt.Fprintf(a.stdout, "CockroachDB: --enterprise-encryption path=STORE,key=%s,old-key=… (method aes%d-ctr); TiKV settings: master-key type = \"raw\", path = %q\n", abs, size, abs)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "hex", "hex (TiKV: 64 hex characters and a newline) or raw (CockroachDB: 32-byte id + key)")
	cmd.Flags().IntVar(&size, "size", 256, "key size in bits: 128, 192 or 256 (hex: 256 only)")
	return cmd
}

// writeKeyFile makes a random master key file at path, never replacing one,
// checks that it loads, and describes it.
func writeKeyFile(path, format string, size int) (string, error) {
	switch format {
	case "hex", "raw":
	default:
		return "", usagef("--format %q: expected hex (TiKV's key file) or raw (CockroachDB's)", format)
	}
	switch size {
	case 128, 192, 256:
	default:
		return "", usagef("--size %d: expected 128, 192 or 256 (bits)", size)
	}
	if format == "hex" && size != 256 {
		return "", usagef("--size %d: TiKV's hex key files hold 256-bit keys only; use --format raw for a %d-bit key", size, size)
	}
	if path == "" {
		return "", usagef("the key file name is empty")
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", usagef("cannot create %s: directory %s does not exist", path, dir)
		}
		return "", err
	} else if !fi.IsDir() {
		return "", usagef("cannot create %s: %s is not a directory", path, dir)
	}

	kind := keys.KindFile
	if format == "raw" {
		kind = keys.KindRaw
	}
	err := keys.WriteKeyFile(path, kind, size)
	if errors.Is(err, os.ErrExist) {
		return "", usagef("%s already exists: keygen never overwrites a key file (a store wrapped under it would be lost); choose another name, or remove the file yourself", path)
	}
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checking the new key file: %w", err)
	}

	var mk keys.MasterKey
	if format == "hex" {
		mk, err = keys.LoadHexKeyFile(path)
	} else {
		mk, err = keys.LoadRawKeyFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("checking the new key file: %w", err)
	}
	defer mk.Close()
	return fmt.Sprintf("%s: %d bytes, mode 0600: %s", path, fi.Size(), mk.String()), nil
}
