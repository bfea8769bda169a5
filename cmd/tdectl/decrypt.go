package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
	"golang.org/x/term"
)

const decryptWarning = `WARNING: writing the plaintext of %s to %s.
Anyone who reads it reads what encryption at rest protects: keep it off
shared disks, backups and logs, and remove it when done.`

func (a *app) newDecryptCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "decrypt --store DIR (--config FILE | --enterprise-encryption SPEC) FILE [--out PATH]",
		Short: "Write the plaintext of one file of a closed store",
		Long: `decrypt writes the plaintext of one file of a closed store: a table, a WAL,
a MANIFEST, OPTIONS, a blob file, for Pebble's tools or for recovery by
hand (CockroachDB's cockroach debug encryption-decrypt). The file is read
with the data key and IV its dictionary entry names; a file without an
entry in a store that had files before encryption was turned on is
plaintext already and is copied as it is.

FILE is a path relative to the store, as tdectl dump lists it, or an
absolute path inside the store. Refused: a file outside the store (a WAL
directory elsewhere: open that directory's files through the program), a
directory, tde's own files (the registry and dictionary are not CTR
files: tdectl dump shows them), and in a strict store a file with no
dictionary entry (nothing says how it is encrypted).

The plaintext goes to standard output, which must not be a terminal, or to
--out PATH, created mode 0600 and never over an existing file. A warning
on stderr says plaintext is being written.

The store is opened as status and dump open it: read-only, under Pebble's
LOCK taken shared, changing nothing on disk.`,
		Example: `  tdectl decrypt --store /var/lib/tikv/db --config /etc/tikv/tikv.toml MANIFEST-000001 --out /root/MANIFEST.plain
  tdectl decrypt --store /var/lib/tikv/db --config /etc/tikv/tikv.toml 000005.sst | pebble sstable scan /dev/stdin`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("%s takes one file, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
	}
	sf := addStoreFlags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the plaintext to this new file (mode 0600; never overwritten) instead of standard output")
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		if out == "" {
			if f, ok := a.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return usagef("refusing to write plaintext to a terminal: redirect standard output or use --out PATH")
			}
		}
		return a.inspectStore(sf, func(s *session, _ engine.Config) error {
			name, rel, err := storeFile(s.dir, args[0])
			if err != nil {
				return err
			}
			info, err := fileEntry(s.fs, rel)
			if err != nil {
				return err
			}
			// In a strict store, a file with no entry is engine.ErrMissingEntry,
			// whose text says why.
			src, err := s.fs.Open(name)
			if err != nil {
				return fmt.Errorf("decrypting %s: %w", rel, err)
			}
			defer src.Close()

			var dst io.Writer = a.stdout
			var file *os.File
			to := "standard output"
			if out != "" {
				// O_EXCL: never over an existing file, nor through a symlink.
				file, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return usagef("--out: %w", err)
				}
				dst, to = file, out
			}
			fmt.Fprintf(a.stderr, "tdectl: "+decryptWarning+"\n", rel, to)
			n, err := io.Copy(dst, io.NewSectionReader(src, 0, info.Size))
			if file != nil {
				if err == nil {
					err = file.Sync()
				}
				if cerr := file.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out) // ours, and incomplete
				}
			}
			if err != nil {
				return fmt.Errorf("decrypting %s: %w", rel, err)
			}
			if file != nil {
				how := "plaintext: no entry, copied as it is"
				if info.Entry {
					how = info.Method.String()
					if info.Method != keys.MethodPlaintext {
						how += ", data key " + keys.FormatID(info.KeyID)
					}
				}
				fmt.Fprintf(a.stdout, "wrote the plaintext of %s (%s), %s, to %s\n", rel, how, plural(int(n), "byte", "bytes"), out)
			}
			return nil
		})
	})
	return cmd
}

// storeFile resolves FILE as decrypt takes it (relative to the store, or
// absolute) to a path in the store dir and its slash-separated path
// relative to it, refusing what is not a regular file inside the store.
// Symlinks are followed: where a file really is decides.
func storeFile(dir, file string) (name, rel string, err error) {
	p := file
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", usagef("%s: no such file in the store %s", file, dir)
	}
	if err != nil {
		return "", "", usagef("%s: %w", file, err)
	}
	r, err := filepath.Rel(realDir, real)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", "", usagef("%s is outside the store %s: decrypt reads only the store's own files", file, dir)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", "", err
	}
	if fi.IsDir() {
		return "", "", usagef("%s is a directory: decrypt takes one file (tdectl dump lists them)", file)
	}
	if !fi.Mode().IsRegular() {
		return "", "", usagef("%s is not a regular file (%v)", file, fi.Mode().Type())
	}
	rel = filepath.ToSlash(r)
	if isTDEFile(rel) {
		return "", "", usagef("%s is tde's own metadata, not a file tde encrypts: tdectl dump shows what it holds", file)
	}
	return filepath.Join(dir, r), rel, nil
}

// isTDEFile reports whether a path relative to the store is one of tde's
// own files: the key registry, the file dictionary and its markers.
func isTDEFile(rel string) bool {
	return strings.HasPrefix(rel, "TDE-") || strings.HasPrefix(rel, "marker.tde-")
}

// fileEntry is the store's record of the file at rel.
func fileEntry(fsys *engine.FS, rel string) (engine.FileInfo, error) {
	files, err := fsys.Files()
	if err != nil {
		return engine.FileInfo{}, err
	}
	for _, f := range files {
		if f.Path == rel {
			return f, nil
		}
	}
	return engine.FileInfo{}, usagef("%s is not a file of the store (not listed by tdectl dump: Pebble's LOCK, or a file of a nested store)", rel)
}
