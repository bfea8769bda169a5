package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// writeHexKey writes a fresh TiKV-style master key file (0600) and returns
// its path.
func writeHexKey(t testing.TB) string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	p := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testConfig is a configuration with a hex master key file and method m,
// logging only errors.
func testConfig(t testing.TB, m keys.Method) Config {
	return Config{
		Method:    m,
		MasterKey: MasterKeyConfig{Type: "file", Path: writeHexKey(t)},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func mustOpen(t testing.TB, base vfs.FS, dir string, cfg Config) *FS {
	t.Helper()
	f, err := Open(base, dir, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return f
}

func mustClose(t testing.TB, f *FS) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// encrypting lists every method that encrypts.
var encrypting = []keys.Method{keys.MethodAES128CTR, keys.MethodAES192CTR, keys.MethodAES256CTR, keys.MethodSM4CTR}

// walkRaw calls dirFn for every directory under dir on base and fileFn for
// every other file with its bytes as stored, depth first.
func walkRaw(t testing.TB, base vfs.FS, dir string, dirFn func(p string, fi vfs.FileInfo), fileFn func(p string, fi vfs.FileInfo, b []byte)) {
	t.Helper()
	names, err := base.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p := base.PathJoin(dir, n)
		fi, err := base.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			dirFn(p, fi)
			walkRaw(t, base, p, dirFn, fileFn)
			continue
		}
		f, err := base.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		fileFn(p, fi, b)
	}
}

// rawFiles reads every regular file under dir on base as stored: the bytes an
// attacker with the disk sees.
func rawFiles(t testing.TB, base vfs.FS, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	walkRaw(t, base, dir, func(string, vfs.FileInfo) {}, func(p string, _ vfs.FileInfo, b []byte) { out[p] = b })
	return out
}

// filesContaining names the raw files that contain needle.
func filesContaining(files map[string][]byte, needle []byte) []string {
	var hits []string
	for p, b := range files {
		if bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
	}
	return hits
}

// pebbleOptions are Pebble's defaults on fs, without Pebble's log lines.
func pebbleOptions(fs vfs.FS) *pebble.Options {
	return &pebble.Options{FS: fs, Logger: quietLogger{}}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// syncDir syncs dir on fs, as a test's own code (not the engine's) would.
func syncDir(fs vfs.FS, dir string) error {
	f, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
