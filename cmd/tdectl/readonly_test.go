package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
)

// snapshot records every file and directory under roots: name, mode,
// size, mtime and bytes. A directory's mtime changes with any file created
// or removed in it, even one removed again.
func snapshot(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if n := filepath.Base(p); runtime.GOOS != "linux" && (n == "LOCK" || n == "TDE-LOCK") {
				return nil // locked exclusively there, which sets the mtime
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			s := fmt.Sprintf("%v %d", fi.Mode(), fi.ModTime().UnixNano())
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				s += fmt.Sprintf(" %d %x", fi.Size(), b)
			}
			out[p] = s
			return nil
		})
		if err != nil && !(errors.Is(err, fs.ErrNotExist) && root != roots[0]) {
			t.Fatal(err)
		}
	}
	return out
}

func snapshotDiff(before, after map[string]string) string {
	var d []string
	for _, p := range slices.Sorted(maps.Keys(before)) {
		if a, ok := after[p]; !ok {
			d = append(d, "removed "+p)
		} else if a != before[p] {
			d = append(d, "changed "+p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[p]; !ok {
			d = append(d, "created "+p)
		}
	}
	return strings.Join(d, "\n")
}

// TestStatusDumpChangeNothing runs status and dump, in text and JSON and
// with --show-keys, on stores in every state a writable open would
// change: a data key past its rotation period, a dictionary with a torn
// tail, a WAL directory outside the store that is missing, a registry
// wrapped under the previous master key, and all at once. Not a byte,
// mode or mtime changes in the store or its WAL directory.
func TestStatusDumpChangeNothing(t *testing.T) {
	for _, state := range []string{"stale-key", "torn-tail", "wal-missing", "previous-master", "all"} {
		t.Run(state, func(t *testing.T) {
			all := state == "all"
			root := t.TempDir()
			dir, wal := filepath.Join(root, "db"), filepath.Join(root, "wal")
			key := newKey(t)
			config := writeConfig(t, "aes256-ctr", key)
			cfg := loadConfig(t, config)
			if all || state == "stale-key" {
				cfg.Now = func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }
			}
			efs, err := engine.Open(vfs.Default, dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			db, err := pebble.Open(dir, &pebble.Options{FS: efs, WALDir: wal, Logger: quietLogger{}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				if err := db.Set(testKey(i), testValue(i), pebble.NoSync); err != nil {
					t.Fatal(err)
				}
			}
			if err := errors.Join(db.Close(), efs.Close()); err != nil {
				t.Fatal(err)
			}
			if all || state == "torn-tail" {
				logs, _ := filepath.Glob(filepath.Join(dir, "TDE-DICT-*"))
				f, err := os.OpenFile(logs[0], os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.Write([]byte{0x12, 0x34, 0, 0, 0, 0, 0, 0})
				f.Close()
			}
			if all || state == "wal-missing" {
				if err := os.Rename(wal, wal+".unmounted"); err != nil {
					t.Fatal(err)
				}
			}
			if all || state == "previous-master" {
				newMaster := newKey(t)
				b, err := os.ReadFile(config)
				if err != nil {
					t.Fatal(err)
				}
				doc := strings.Replace(string(b), fmt.Sprintf("path = %q", key), fmt.Sprintf("path = %q", newMaster), 1)
				doc += fmt.Sprintf("\n[security.encryption.previous-master-key]\ntype = \"file\"\npath = %q\n", key)
				config = filepath.Join(t.TempDir(), "tikv.toml")
				if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			before := snapshot(t, root)
			time.Sleep(10 * time.Millisecond) // so a rewrite would show in an mtime
			flags := []string{"--store", dir, "--config", config}
			for _, cmd := range [][]string{
				{"status"}, {"status", "--json"}, {"dump"}, {"dump", "--json"}, {"dump", "--show-keys"},
			} {
				args := append(cmd, flags...)
				code, out, errs := tdectl(t, args...)
				if code != 0 {
					t.Fatalf("tdectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
				}
				if strings.Contains(errs, "new data key") {
					t.Errorf("tdectl %s made a data key:\n%s", strings.Join(args, " "), errs)
				}
				if d := snapshotDiff(before, snapshot(t, root)); d != "" {
					t.Fatalf("tdectl %s changed the disk:\n%s", strings.Join(args, " "), d)
				}
				if len(cmd) == 2 && cmd[0] == "status" {
					var doc statusDoc
					if err := json.Unmarshal([]byte(out), &doc); err != nil {
						t.Fatal(err)
					}
					// The WAL directory is outside the store: tdectl cannot
					// know where, mounted or not, and says so.
					if doc.MissingDirs.Entries != 0 || doc.UnseenDirs.Entries == 0 || len(doc.UnseenDirs.Dirs) != 1 {
						t.Errorf("status --json: missing_dirs %+v, unseen_dirs %+v", doc.MissingDirs, doc.UnseenDirs)
					}
				}
				if cmd[0] == "status" && len(cmd) == 1 && !strings.Contains(out, "outside the store") {
					t.Errorf("status does not show the WAL directory outside the store:\n%s", out)
				}
			}
		})
	}
}
