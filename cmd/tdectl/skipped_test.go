package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
)

// TestReencryptNamesSkippedFiles: the WALs of a WAL directory outside the
// store are not rewritten, reencrypt and migrate say which files they
// skipped, and migrate does not count them as work left undone.
func TestReencryptNamesSkippedFiles(t *testing.T) {
	root := t.TempDir()
	dir, walDir := filepath.Join(root, "db"), filepath.Join(root, "wal")
	config := writeConfig(t, "aes256-ctr", newKey(t))
	efs, err := engine.Open(vfs.Default, dir, loadConfig(t, config))
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: efs, WALDir: walDir, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := db.Set(testKey(i), testValue(i), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // the values stay in the WAL
		t.Fatal(err)
	}
	if err := efs.Close(); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--store", dir, "--config", config}
	mustTdectl(t, append([]string{"rotate", "data-key"}, flags...)...)
	out := mustTdectl(t, append([]string{"reencrypt"}, flags...)...)
	if !strings.Contains(out, "skipped 1 file outside "+dir) || !strings.Contains(out, "  TDE-EXT-") {
		t.Fatalf("reencrypt output does not name the skipped WAL:\n%s", out)
	}
	// migrate's check counts them out: they were left alone on purpose.
	out = mustTdectl(t, append([]string{"migrate"}, flags...)...)
	if !strings.Contains(out, "skipped 1 file outside") || !strings.Contains(out, "migrated "+dir) {
		t.Fatalf("migrate output:\n%s", out)
	}
}
