package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
)

// TestMain doubles as tdectl itself when TDECTL_TEST_MAIN is set, so a
// test can run it as a process and kill it: TDECTL_TEST_KILL_AFTER=k kills
// it once k files are re-encrypted; with TDECTL_TEST_KILL_PARTIAL=DIR set
// too, it is killed instead as soon as the partial copy of a later file
// shows in DIR (in the middle of a file), or at the last file's end,
// before the unused keys are dropped, if none is seen.
func TestMain(m *testing.M) {
	if os.Getenv("TDECTL_TEST_MAIN") == "1" {
		kill := func() {
			self, _ := os.FindProcess(os.Getpid())
			self.Kill()
			select {}
		}
		a := &app{stdout: os.Stdout, stderr: os.Stderr}
		if s := os.Getenv("TDECTL_TEST_KILL_AFTER"); s != "" {
			k, _ := strconv.Atoi(s)
			dir := os.Getenv("TDECTL_TEST_KILL_PARTIAL")
			a.progressHook = func(p engine.Progress) {
				switch {
				case dir == "" && p.FilesDone == k:
					kill()
				case dir != "" && p.FilesDone == k:
					go func() {
						for {
							if m, _ := filepath.Glob(filepath.Join(dir, "*.tde-reencrypt")); len(m) > 0 {
								kill()
							}
						}
					}()
				case dir != "" && p.FilesDone == p.Files:
					kill()
				}
			}
		}
		os.Exit(a.run(context.Background(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// tdectl runs the command in-process and returns its exit status and
// output.
func tdectl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// mustTdectl runs the command and fails the test unless it exits 0.
func mustTdectl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := tdectl(t, args...)
	if code != 0 {
		t.Fatalf("tdectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// wantFail runs the command and checks its exit status and that stderr
// mentions every string of want.
func wantFail(t *testing.T, code int, want []string, args ...string) string {
	t.Helper()
	got, out, errs := tdectl(t, args...)
	if got != code {
		t.Errorf("tdectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errs)
		return errs
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("tdectl %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errs)
		}
	}
	return errs
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func testKey(i int) []byte   { return fmt.Appendf(nil, "key-%06d", i) }
func testValue(i int) []byte { return fmt.Appendf(nil, "value-%06d-%0300d", i, i) }

// testStore is a store on disk and the TiKV settings it runs under.
type testStore struct {
	dir    string // the store
	config string // its tikv.toml
	key    string // its master key file
	n      int    // keys written: 0 to n-1
}

// writeConfig writes a tikv.toml for method and master key file key.
func writeConfig(t *testing.T, method, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tikv.toml")
	mk := `type = "plaintext"`
	if key != "" {
		mk = fmt.Sprintf("type = \"file\"\npath = %q", key)
	}
	doc := fmt.Sprintf("[server]\naddr = \"127.0.0.1:20160\"\n\n[security.encryption]\ndata-encryption-method = %q\n\n[security.encryption.master-key]\n%s\n", method, mk)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// newKey makes a hex master key file with tdectl keygen.
func newKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "master.key")
	mustTdectl(t, "keygen", p)
	return p
}

func loadConfig(t *testing.T, path string) engine.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := engine.ParseTiKVConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// fill writes keys from to to into the store in dir with Pebble, through
// the engine under the settings in config ("" for plain Pebble), flushing
// every 300 keys and leaving the last ones in the WAL.
func fill(t *testing.T, dir, config string, from, to int) {
	t.Helper()
	var fs vfs.FS = vfs.Default
	var efs *engine.FS
	if config != "" {
		var err error
		efs, err = engine.Open(vfs.Default, dir, loadConfig(t, config))
		if err != nil {
			t.Fatal(err)
		}
		fs = efs
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if err := db.Set(testKey(i), testValue(i), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if i%300 == 299 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if efs != nil {
		if err := efs.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// readBack opens the store under config and reads every value.
func readBack(t *testing.T, dir, config string, n int) {
	t.Helper()
	efs, err := engine.Open(vfs.Default, dir, loadConfig(t, config))
	if err != nil {
		t.Fatal(err)
	}
	defer efs.Close()
	db, err := pebble.Open(dir, &pebble.Options{FS: efs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		v, c, err := db.Get(testKey(i))
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if !bytes.Equal(v, testValue(i)) {
			t.Fatalf("key %d reads %q", i, v)
		}
		c.Close()
	}
}

// newMixedStore writes a store whose files are in every state: plain
// Pebble files from before encryption, then files under an aes256 data
// key.
func newMixedStore(t *testing.T) testStore {
	t.Helper()
	s := testStore{dir: filepath.Join(t.TempDir(), "db"), key: newKey(t), n: 1500}
	s.config = writeConfig(t, "aes256-ctr", s.key)
	fill(t, s.dir, "", 0, 700)
	fill(t, s.dir, s.config, 700, s.n)
	return s
}

// status runs tdectl status --json.
func status(t *testing.T, args ...string) statusDoc {
	t.Helper()
	out := mustTdectl(t, append([]string{"status", "--json"}, args...)...)
	var d statusDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return d
}

// tree lists every file under dir with its size and modification time:
// what "nothing changed" compares.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s %d %x\n", p, fi.Size(), data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
