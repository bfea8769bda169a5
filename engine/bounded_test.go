package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// TestDictionarySparseLogBounded: a dictionary log of 64 GiB (sparse: no
// disk used) fails the open with ErrCorruptDictionary naming it, at once
// and allocating next to nothing, and the directory is unchanged.
func TestDictionarySparseLogBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, vfs.Default, dir, cfg)
	log := f.dict.logPath()
	mustClose(t, f)
	lf, err := os.OpenFile(log, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := lf.Truncate(64 << 30); err != nil {
		lf.Close()
		t.Skipf("no sparse files here: %v", err)
	}
	lf.Close()
	before := hygieneSnapshot(t, dir, log)

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	_, err = Open(vfs.Default, dir, cfg)
	runtime.ReadMemStats(&m1)
	if !errors.Is(err, ErrCorruptDictionary) || !strings.Contains(err.Error(), log) {
		t.Fatalf("Open with a 64 GiB dictionary log = %v, want ErrCorruptDictionary naming %s", err, log)
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 16<<20 {
		t.Errorf("the failed open allocated %d bytes, want under 16 MiB", alloc)
	}
	if after := hygieneSnapshot(t, dir, log); after != before {
		t.Errorf("directory changed by the failed open:\nbefore %s\nafter  %s", before, after)
	}
}

// TestDictionaryLogBoundEnforcedOnRead: the bound holds even where Stat
// says less than the read finds.
func TestDictionaryLogBoundEnforcedOnRead(t *testing.T) {
	old := maxDictionarySize
	t.Cleanup(func() { maxDictionarySize = old })
	fs := vfs.NewMem()
	w, err := fs.Create("/log", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 4096))
	w.Close()
	r, err := fs.Open("/log")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	maxDictionarySize = 1000
	if _, err := readDictionaryLog(statFailsFile{r}, "/log"); !errors.Is(err, ErrCorruptDictionary) || !strings.Contains(err.Error(), "/log") {
		t.Fatalf("readDictionaryLog past the bound = %v, want ErrCorruptDictionary naming /log", err)
	}
}

// statFailsFile is a file whose Stat fails, as a fault-injecting FS's may.
type statFailsFile struct{ vfs.File }

func (statFailsFile) Stat() (vfs.FileInfo, error) { return nil, errors.New("injected") }

// hygieneSnapshot describes every file under dir (name, size, and contents
// except for skip's, which may be huge and sparse).
func hygieneSnapshot(t *testing.T, dir, skip string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			fmt.Fprintf(&b, " %d ", fi.Size())
			if p != skip {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				b.Write(data)
			}
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
