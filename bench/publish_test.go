package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tde-go/tde/keys"
)

func TestPublish(t *testing.T) {
	root := t.TempDir()
	// An existing results/README.md, as in the repository: kept, with the
	// index appended once and updated in place after.
	readme := "# Benchmark results\n\n| file | what |\n| --- | --- |\n| `ctr/x.txt` | kernels |\n"
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte(readme), 0o644); err != nil {
		t.Fatal(err)
	}
	r := NewReport(testEnv(), testSettings(6), handRuns([]int64{1000, 1100, 1200, 1300, 1400, 1500},
		map[Method]float64{MethodAES128CTR: 1.05, MethodSM4CTR: 1.5}, nil))
	r.Cipher = []CipherResult{{Method: keys.MethodSM4CTR, Impl: "tde", Backend: "gfni-zmm", Size: 64, Iters: 10, NsPerOp: 10, MBPerSec: 6400}}
	dir, err := Publish(root, r)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "2026-11-23-test-cpu-9000" {
		t.Errorf("results directory %s, want 2026-11-23-test-cpu-9000", dir)
	}
	for _, f := range []string{PebbleFile, CipherFile, JSONFile, MarkdownFile, ChartFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	for _, want := range []string{"Test CPU 9000", "vaes-zmm", "| readrandom | sm4-ctr |", "overhead.svg", "benchstat -col /method"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	f, _ := os.Open(filepath.Join(dir, JSONFile))
	back, err := ReadJSON(f)
	f.Close()
	if err != nil || len(back.Runs) != len(r.Runs) {
		t.Errorf("results.json: %v", err)
	}

	// A second run the same day gets its own directory; the index has a
	// line for each, and the rest of the README is untouched.
	dir2, err := Publish(root, r)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir2) != "2026-11-23-test-cpu-9000-2" {
		t.Errorf("second directory %s", dir2)
	}
	idx, _ := os.ReadFile(filepath.Join(root, "README.md"))
	text := string(idx)
	if !strings.HasPrefix(text, readme) {
		t.Errorf("the existing README was changed:\n%s", text)
	}
	if strings.Count(text, indexBegin) != 1 || strings.Count(text, "](2026-11-23-test-cpu-9000/README.md)") != 1 || strings.Count(text, "](2026-11-23-test-cpu-9000-2/README.md)") != 1 {
		t.Errorf("index:\n%s", text)
	}
	// A run in Go's FIPS mode is another build: its own name.
	fr := *r
	fr.Env.FIPS140 = "GODEBUG=fips140=on"
	dir3, err := Publish(root, &fr)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir3) != "2026-11-23-test-cpu-9000-fips" {
		t.Errorf("FIPS-mode directory %s, want 2026-11-23-test-cpu-9000-fips", dir3)
	}
	// Re-indexing a directory replaces its line.
	if err := updateIndex(filepath.Join(root, "README.md"), "2026-11-23-test-cpu-9000", r); err != nil {
		t.Fatal(err)
	}
	idx2, _ := os.ReadFile(filepath.Join(root, "README.md"))
	if strings.Count(string(idx2), "| [2026-11-23-test-cpu-9000]") != 1 {
		t.Errorf("re-indexing duplicated the line:\n%s", idx2)
	}
}
