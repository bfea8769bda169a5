package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Files in a results directory.
const (
	PebbleFile   = "pebble.txt"
	CipherFile   = "cipher.txt"
	JSONFile     = "results.json"
	MarkdownFile = "README.md"
	ChartFile    = "overhead.svg"
)

// Publish writes the report into a new directory <date>-<cpu> under root
// (<date>-<cpu>-fips for a run in Go's FIPS 140-3 mode)
// (results/ in the repository): the benchmark files, the JSON report, the
// table and the chart. It then adds a line for it to root's README.md
// index, between markers it maintains (creating the file or the section
// if missing). It returns the directory. A second run on the same day and
// CPU gets a suffix (-2, -3, …): published results are never overwritten.
func Publish(root string, r *Report) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	name := r.Env.Date.Format("2006-01-02") + "-" + r.Env.Slug()
	if r.Env.FIPS140 != "" {
		name += "-fips" // another build of the same machine: never mixed up with the default's
	}
	dir := filepath.Join(root, name)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			return "", err
		}
		dir = filepath.Join(root, fmt.Sprintf("%s-%d", name, i))
	}
	type outFile struct {
		name  string
		write func(io.Writer) error
	}
	files := []outFile{
		{PebbleFile, r.WriteBenchfmt},
		{JSONFile, r.WriteJSON},
		{MarkdownFile, r.writeReadme},
		{ChartFile, r.WriteChart},
	}
	if len(r.Cipher) > 0 {
		files = append(files, outFile{CipherFile, func(w io.Writer) error { return WriteCipherBenchfmt(w, r.Env, r.Cipher) }})
	}
	for _, f := range files {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			return dir, fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			return dir, err
		}
	}
	return dir, updateIndex(filepath.Join(root, "README.md"), filepath.Base(dir), r)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report WriteJSON wrote.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Report) writeReadme(w io.Writer) error {
	if err := r.WriteMarkdownHeader(w); err != nil {
		return err
	}
	if err := r.WriteMarkdown(w); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n![overhead by workload and method](%s)\n\n", ChartFile)
	fmt.Fprintf(&b, "Files: `%s` (benchfmt: every run, and every per-round overhead), `%s` (the same and the summaries)", PebbleFile, JSONFile)
	if len(r.Cipher) > 0 {
		fmt.Fprintf(&b, ", `%s` (the raw CTR kernels beside crypto/cipher and gmsm)", CipherFile)
	}
	b.WriteString(".\n\n```sh\n")
	fmt.Fprintf(&b, "go tool benchstat -col /method %s                        # methods side by side, plaintext as base\n", PebbleFile)
	fmt.Fprintf(&b, "go tool benchstat -ignore date,seed,tde-revision old/%s %s  # against another run\n", PebbleFile, PebbleFile)
	b.WriteString("go run ./cmd/tdebench gate --baseline results/baseline.txt --current " + PebbleFile + "\n```\n")
	_, err := io.WriteString(w, b.String())
	return err
}

const (
	indexBegin = "<!-- tdebench index: maintained by tdebench run --out; one line per run -->"
	indexEnd   = "<!-- end tdebench index -->"
)

// updateIndex adds (or replaces) the line for dir in the index section of
// the README at path.
func updateIndex(path, dir string, r *Report) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	if !strings.Contains(text, indexBegin) || !strings.Contains(text, indexEnd) {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		if text != "" {
			text += "\n"
		}
		text += "## Encryption overhead on Pebble (tdebench)\n\n" +
			"Each directory holds one `tdebench run --out results`: `pebble.txt` and `cipher.txt` (benchfmt), " +
			"`results.json`, the table in `README.md` and `overhead.svg`.\n\n" +
			indexBegin + "\n| run | machine | build | settings |\n| --- | --- | --- | --- |\n" + indexEnd + "\n"
	}
	begin := strings.Index(text, indexBegin) + len(indexBegin)
	end := strings.Index(text, indexEnd)
	if end < begin {
		return fmt.Errorf("%s: the tdebench index markers are out of order", path)
	}
	s := r.Settings
	line := fmt.Sprintf("| [%s](%s/README.md) | %s, %d cores | %s; AES %s, SM4 %s | %s, %d keys × %d B, %v, cache %s |",
		dir, dir, r.Env.CPU, r.Env.Cores, r.Env.Go, r.Env.CTRBackend, r.Env.SM4Backend,
		s.roundsBuildsText(), s.Keys, s.ValueSize, s.Duration, FormatSize(s.CacheSize))
	var lines []string
	for _, l := range strings.Split(strings.Trim(text[begin:end], "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "| ["+dir+"]") {
			lines = append(lines, l)
		}
	}
	lines = append(lines, line)
	text = text[:begin] + "\n" + strings.Join(lines, "\n") + "\n" + text[end:]
	return os.WriteFile(path, []byte(text), 0o644)
}
