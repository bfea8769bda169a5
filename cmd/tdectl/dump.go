package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// dumpDoc is the JSON document of tdectl dump --json.
type dumpDoc struct {
	Version    int       `json:"version"` // jsonVersion
	Store      string    `json:"store"`
	Method     string    `json:"method"`
	MasterKey  string    `json:"master_key"`
	Registry   string    `json:"registry"`
	DataKeys   []keyDoc  `json:"data_keys"` // "key" only with --show-keys
	Dictionary dictDoc   `json:"dictionary"`
	Files      []fileDoc `json:"files"` // by path
}

// fileDoc is one file of the store as the file dictionary records it.
type fileDoc struct {
	Path    string `json:"path"`   // relative to the store, slash-separated
	Entry   bool   `json:"entry"`  // false: a plaintext file from before encryption
	Method  string `json:"method"` // "plaintext" without an entry
	KeyID   string `json:"key_id"` // "" for plaintext
	IV      string `json:"iv"`     // hex; "" for plaintext (IVs are not secret)
	Present bool   `json:"present"`
	Size    int64  `json:"size"`
}

const showKeysWarning = `WARNING: --show-keys prints data keys in the clear. Anyone who reads them can
decrypt every file they encrypt, from this disk or any copy of it. Do not
store, paste or log this output; rotate the data key (tdectl rotate
data-key, then tdectl reencrypt) if it may have leaked.`

func (a *app) newDumpCmd() *cobra.Command {
	var asJSON, showKeys bool
	cmd := &cobra.Command{
		Use:   "dump --store DIR (--config FILE | --enterprise-encryption SPEC) [--json] [--show-keys]",
		Short: "Print the key registry's metadata and the file dictionary",
		Long: `dump opens a closed store read-only, changing nothing on disk (as status
does), and prints its key registry (the file, the master key it is wrapped
under, every data key's id, method and creation time, and how many files
and bytes each encrypts) and its file dictionary (every file:
method, data key id, IV, size, and whether it has an entry at all: files
from before encryption have none and are read as plaintext).

Key bytes are never printed, unless --show-keys, which adds every data key
in hex and warns on stderr. That is for recovery by hand only: with a file's
key and IV (dump shows both), AES-CTR or SM4-CTR decrypts it, e.g.
  openssl enc -d -aes-256-ctr -K KEY -iv IV -in FILE

--json prints one JSON document (version 1): {"version":1, "store",
"method", "master_key", "registry", "data_keys": [{"id", "method",
"created", "age_seconds", "active", "files", "bytes"[, "key"]}],
"dictionary": {"path", "entries", "bytes"}, "files": [{"path", "entry",
"method", "key_id", "iv", "present", "size"}]}.`,
		Example: `  tdectl dump --store /var/lib/tikv/db --config /etc/tikv/tikv.toml
  tdectl dump --store /var/lib/tikv/db --config /etc/tikv/tikv.toml --json | jq '.files[] | select(.method == "plaintext")'`,
		Args: noArgs,
	}
	sf := addStoreFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON document")
	cmd.Flags().BoolVar(&showKeys, "show-keys", false, "also print every data key in hex (dangerous: see above)")
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		return a.inspectStore(sf, func(s *session, cfg engine.Config) error {
			st := s.fs.Status()
			d := dumpDoc{
				Version:    jsonVersion,
				Store:      st.Dir,
				Method:     st.Method.String(),
				MasterKey:  st.MasterKey,
				Registry:   s.fs.RegistryPath(),
				DataKeys:   []keyDoc{},
				Dictionary: dictDoc{Path: st.DictionaryPath, Entries: st.DictionaryEntries, Bytes: st.DictionaryBytes},
				Files:      []fileDoc{},
			}
			now := time.Now()
			for _, k := range st.Keys {
				kd := keyDocOf(k, now)
				if showKeys {
					h, err := s.fs.DataKeyHex(k.ID)
					if err != nil {
						return err
					}
					kd.Key = h
				}
				d.DataKeys = append(d.DataKeys, kd)
			}
			files, err := s.fs.Files()
			if err != nil {
				return err
			}
			for _, f := range files {
				fd := fileDoc{Path: f.Path, Entry: f.Entry, Method: f.Method.String(), Present: f.Present, Size: f.Size}
				if f.Method != keys.MethodPlaintext {
					fd.KeyID = keys.FormatID(f.KeyID)
					fd.IV = hex.EncodeToString(f.IV[:])
				}
				d.Files = append(d.Files, fd)
			}
			if showKeys {
				fmt.Fprintln(a.stderr, "tdectl:", showKeysWarning)
			}
			if asJSON {
				return writeJSON(a.stdout, d)
			}
			printDump(a.stdout, d, showKeys)
			return nil
		})
	})
	return cmd
}

func printDump(w io.Writer, d dumpDoc, showKeys bool) {
	t := newTable(w)
	t.row("store\t%s", d.Store)
	t.row("method\t%s", d.Method)
	t.row("key registry\t%s", d.Registry)
	t.row("master key\t%s", d.MasterKey)
	t.row("data keys\t%d", len(d.DataKeys))
	t.flush()
	if len(d.DataKeys) > 0 {
		fmt.Fprintln(w)
		printKeys(w, d.DataKeys, showKeys)
	}

	fmt.Fprintf(w, "\nfile dictionary %s: %s, %s\n\n", d.Dictionary.Path, plural(d.Dictionary.Entries, "entry", "entries"), formatBytes(d.Dictionary.Bytes))
	t = newTable(w)
	t.row("PATH\tMETHOD\tDATA KEY\tIV\tSIZE\tNOTE")
	for _, f := range d.Files {
		keyID, iv, size, note := f.KeyID, f.IV, fmt.Sprint(f.Size), ""
		if keyID == "" {
			keyID, iv = "-", "-"
		}
		switch {
		case !f.Entry:
			note = "no entry: plaintext from before encryption"
		case !f.Present:
			size, note = "-", "file missing"
		}
		t.row("%s\t%s\t%s\t%s\t%s\t%s", f.Path, f.Method, keyID, iv, size, note)
	}
	t.flush()
}
