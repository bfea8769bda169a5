package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// jsonVersion is the version of the JSON documents status and dump print.
// Fields are only ever added within a version.
const jsonVersion = 1

// statusDoc is the JSON document of tdectl status --json.
type statusDoc struct {
	Version int    `json:"version"` // jsonVersion
	Store   string `json:"store"`   // the store directory
	Method  string `json:"method"`  // method of new files
	// ActiveKey is the data key new files are encrypted with; null while
	// the method is plaintext.
	ActiveKey             *keyDoc  `json:"active_key"`
	RotationPeriodSeconds float64  `json:"rotation_period_seconds"`
	MasterKey             string   `json:"master_key"` // kind, source and id, never the key
	Strict                bool     `json:"strict"`     // every file was written through tde
	Usage                 usageDoc `json:"usage"`
	DataKeys              []keyDoc `json:"data_keys"` // oldest first
	Registry              string   `json:"registry"`  // the key registry file
	Dictionary            dictDoc  `json:"dictionary"`
	// MissingDirs are the directories holding files with entries that do
	// not exist (a WAL volume not mounted, a checkpoint moved away): the
	// store keeps those entries, and their data keys, until they are back.
	MissingDirs missingDoc `json:"missing_dirs"`
	// UnseenDirs are directories outside the store (a WAL directory
	// elsewhere), by the identifier the dictionary knows them by: only
	// Pebble knows where they are, so tdectl cannot check their files.
	UnseenDirs missingDoc `json:"unseen_dirs"`
	// Backend computes the AES-CTR keystreams in this process: tde's
	// kernel, or "fips140" (the standard library's validated module) in
	// Go's FIPS 140-3 mode; FIPS140 says what turned that mode on, "" off.
	Backend string `json:"backend"`
	FIPS140 string `json:"fips140"`
}

// missingDoc counts the entries kept for files in missing directories.
type missingDoc struct {
	Entries int      `json:"entries"`
	Dirs    []string `json:"dirs"` // relative to the store, slash-separated
}

// usageDoc splits the store's files by how they are encrypted.
type usageDoc struct {
	Active    shareDoc `json:"active"`    // under the active data key
	Older     shareDoc `json:"older"`     // under other data keys
	Plaintext shareDoc `json:"plaintext"` // not encrypted
	Total     shareDoc `json:"total"`
}

// shareDoc counts files and bytes, and their share of the total in [0, 1].
type shareDoc struct {
	Files         int     `json:"files"`
	Bytes         int64   `json:"bytes"`
	FilesFraction float64 `json:"files_fraction"`
	BytesFraction float64 `json:"bytes_fraction"`
}

// keyDoc is one data key's metadata (its bytes only with dump --show-keys).
type keyDoc struct {
	ID         string  `json:"id"` // 16 hex digits, as keys.FormatID
	Method     string  `json:"method"`
	Created    string  `json:"created"` // RFC 3339, UTC
	AgeSeconds float64 `json:"age_seconds"`
	Active     bool    `json:"active"`
	Files      int     `json:"files"` // files it encrypts
	Bytes      int64   `json:"bytes"`
	Key        string  `json:"key,omitempty"` // hex; dump --show-keys only
}

// dictDoc describes the file dictionary.
type dictDoc struct {
	Path    string `json:"path"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

func share(u, total engine.Usage) shareDoc {
	f, b := u.Fraction(total)
	return shareDoc{Files: u.Files, Bytes: u.Bytes, FilesFraction: f, BytesFraction: b}
}

func keyDocOf(k engine.KeyUsage, now time.Time) keyDoc {
	return keyDoc{
		ID:         keys.FormatID(k.ID),
		Method:     k.Method.String(),
		Created:    k.Created.UTC().Format(time.RFC3339),
		AgeSeconds: now.Sub(k.Created).Seconds(),
		Active:     k.Active,
		Files:      k.Files,
		Bytes:      k.Bytes,
	}
}

func newStatusDoc(st engine.Status, cfg engine.Config, registry string, now time.Time) statusDoc {
	period := cfg.RotationPeriod
	if period <= 0 {
		period = keys.DefaultRotationPeriod
	}
	total := st.Total()
	d := statusDoc{
		Version:               jsonVersion,
		Store:                 st.Dir,
		Method:                st.Method.String(),
		RotationPeriodSeconds: period.Seconds(),
		MasterKey:             st.MasterKey,
		Strict:                st.Strict,
		Usage: usageDoc{
			Active:    share(st.Active, total),
			Older:     share(st.Older, total),
			Plaintext: share(st.Plaintext, total),
			Total:     share(total, total),
		},
		DataKeys:    []keyDoc{},
		Registry:    registry,
		Dictionary:  dictDoc{Path: st.DictionaryPath, Entries: st.DictionaryEntries, Bytes: st.DictionaryBytes},
		MissingDirs: missingDoc{Entries: st.MissingDirEntries, Dirs: append([]string{}, st.MissingDirs...)},
		UnseenDirs:  missingDoc{Entries: st.UnseenDirEntries, Dirs: append([]string{}, st.UnseenDirs...)},
		Backend:     st.Backend,
		FIPS140:     st.FIPS,
	}
	for _, k := range st.Keys {
		kd := keyDocOf(k, now)
		d.DataKeys = append(d.DataKeys, kd)
		if k.Active {
			d.ActiveKey = &kd
		}
	}
	return d
}

func (a *app) newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --store DIR (--config FILE | --enterprise-encryption SPEC) [--json]",
		Short: "How a closed store is encrypted: method, keys, share of files under each",
		Long: `status opens a closed store with its encryption settings and reports the
method of new files, the active data key (id, method, age) and the rotation
period, the master key the key registry is wrapped under (kind, file or KMS
key, fingerprint id; never the key), and how the store's files and bytes
split between the active data key, older data keys and plaintext, with a
line per data key.

After enabling encryption on an existing store, after a rotation or after
re-encrypting, this is what to check: "older" and "plaintext" reach zero
once every file is under the active key.

status changes nothing on disk: it opens the store read-only, so a data key
past its rotation period or of another method is reported, not replaced
(the next open by the program or by tdectl rotate/reencrypt does that), and
no file is created, removed or rewritten. It needs the store closed: it
takes Pebble's LOCK, shared and without creating it. A running store
reports the same through the program: engine.FS.Status() and the tde_*
Prometheus metrics.

Files whose directory is missing (a WAL directory on a volume not mounted,
a checkpoint moved away) keep their entries and data keys until it is back;
status lists those directories.

--json prints one JSON document (version 1): fields are only ever added.
  {"version":1, "store", "method", "active_key": {"id", "method", "created",
   "age_seconds", "active", "files", "bytes"} or null, "rotation_period_seconds",
   "master_key", "strict", "usage": {"active"|"older"|"plaintext"|"total":
   {"files", "bytes", "files_fraction", "bytes_fraction"}}, "data_keys": [...],
   "registry", "dictionary": {"path", "entries", "bytes"},
   "missing_dirs": {"entries", "dirs": [...]}}`,
		Example: `  tdectl status --store /var/lib/tikv/db --config /etc/tikv/tikv.toml
  tdectl status --enterprise-encryption path=/mnt/data1,key=/keys/aes-256.key,old-key=plain --json | jq .usage.active.bytes_fraction`,
		Args: noArgs,
	}
	sf := addStoreFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON document")
	cmd.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		return a.inspectStore(sf, func(s *session, cfg engine.Config) error {
			doc := newStatusDoc(s.fs.Status(), cfg, s.fs.RegistryPath(), time.Now())
			if asJSON {
				return writeJSON(a.stdout, doc)
			}
			printStatus(a.stdout, doc)
			return nil
		})
	})
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printStatus(w io.Writer, d statusDoc) {
	t := newTable(w)
	t.row("store\t%s", d.Store)
	t.row("method\t%s", d.Method)
	period := time.Duration(d.RotationPeriodSeconds * float64(time.Second))
	if k := d.ActiveKey; k != nil {
		age := time.Duration(k.AgeSeconds * float64(time.Second)).Round(time.Second)
		t.row("active data key\t%s (%s), created %s, age %s", k.ID, k.Method, k.Created, age)
		t.row("rotation period\t%s (next rotation in %s)", period, max(period-age, 0))
	} else {
		t.row("active data key\tnone: new files are written unencrypted")
	}
	t.row("master key\t%s", d.MasterKey)
	t.row("key registry\t%s", d.Registry)
	t.row("file dictionary\t%s (%s, %s)", d.Dictionary.Path, plural(d.Dictionary.Entries, "entry", "entries"), formatBytes(d.Dictionary.Bytes))
	if d.Strict {
		t.row("strict\tyes: every file was written through tde")
	} else {
		t.row("strict\tno: the store had files before encryption was enabled")
	}
	if m := d.MissingDirs; m.Entries > 0 {
		t.row("missing directories\t%s (%s kept until they are back: a volume not mounted?)", strings.Join(m.Dirs, ", "), plural(m.Entries, "entry", "entries"))
	}
	if m := d.UnseenDirs; m.Entries > 0 {
		t.row("outside the store\t%s in %s not checked (a WAL directory elsewhere: only Pebble knows where)", plural(m.Entries, "entry", "entries"), plural(len(m.Dirs), "directory", "directories"))
	}
	if d.FIPS140 != "" {
		t.row("AES-CTR\t%s: Go's FIPS 140-3 mode (%s)", d.Backend, d.FIPS140)
	} else {
		t.row("AES-CTR\t%s (FIPS 140-3 mode off)", d.Backend)
	}
	t.flush()

	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-10s  %7s %7s  %10s\n", "", "FILES", "", "BYTES")
	row := func(name string, s shareDoc) {
		fmt.Fprintf(w, "%-10s  %7d %6.1f%%  %10s %6.1f%%\n", name, s.Files, 100*s.FilesFraction, formatBytes(s.Bytes), 100*s.BytesFraction)
	}
	row("active key", d.Usage.Active)
	row("older keys", d.Usage.Older)
	row("plaintext", d.Usage.Plaintext)
	fmt.Fprintf(w, "%-10s  %7d %7s  %10s\n", "total", d.Usage.Total.Files, "", formatBytes(d.Usage.Total.Bytes))

	if len(d.DataKeys) == 0 {
		fmt.Fprintf(w, "\nno data keys\n")
		return
	}
	fmt.Fprintln(w)
	printKeys(w, d.DataKeys, false)
}

// printKeys writes the data key table, with the key bytes if showKeys.
func printKeys(w io.Writer, ks []keyDoc, showKeys bool) {
	t := newTable(w)
	keyCol := func(s string) string {
		if showKeys {
			return "\t" + s
		}
		return ""
	}
	t.row("DATA KEY\tMETHOD\tCREATED\tFILES\tBYTES\tSTATE%s", keyCol("KEY"))
	for _, k := range ks {
		state := "older"
		if k.Active {
			state = "active"
		}
		t.row("%s\t%s\t%s\t%d\t%s\t%s%s", k.ID, k.Method, k.Created, k.Files, formatBytes(k.Bytes), state, keyCol(k.Key))
	}
	t.flush()
}

// formatBytes writes n in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// table lays out tab-separated rows in aligned columns, without the
// trailing spaces tabwriter leaves after empty last cells.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) row(format string, args ...any) { fmt.Fprintf(t.tw, format+"\n", args...) }

func (t *table) flush() {
	t.tw.Flush()
	for line := range strings.Lines(t.buf.String()) {
		fmt.Fprintln(t.w, strings.TrimRight(line, " \n"))
	}
	t.buf.Reset()
}

// plural writes n and the noun in the right number.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
