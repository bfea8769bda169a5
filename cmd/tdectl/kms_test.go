package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/internal/kmstest"
	"github.com/tde-go/tde/keys"
)

// Stores under KMS master keys, against local-kms, a real KMS-compatible
// server (internal/kmstest), through the AWS SDK client of package keys:
// engine.Open with a kms master key, Pebble on top, and tdectl with kms:
// specs and TiKV configurations naming KMS keys.

// kmsEnv sets the SDK's credentials for local-kms, with one attempt per
// call: a refused connection is not retried with backoff (keys' own tests
// cover retries).
func kmsEnv(t *testing.T) {
	kmstest.SetEnv(t, kmstest.SecretKey)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
}

// kmsSetup sets the SDK's environment, starts local-kms with a key under
// each alias, and returns it, the keys' ids by alias, and a path for a
// store (not yet there).
func kmsSetup(t *testing.T, aliases ...string) (*kmstest.Server, map[string]string, string) {
	t.Helper()
	kmsEnv(t)
	srv := kmstest.Start(t)
	ids := map[string]string{}
	for _, a := range aliases {
		ids[a] = srv.CreateKey(a)
	}
	return srv, ids, filepath.Join(t.TempDir(), "db")
}

// kmsSpec is the tdectl spelling of a local-kms key: kms:KEY-ID,….
func kmsSpec(keyID, endpoint string) string {
	return fmt.Sprintf("kms:%s,region=%s,endpoint=%s,allow-insecure-endpoint=true", keyID, kmstest.Region, endpoint)
}

// kmsMaster is the engine's spelling of the same key.
func kmsMaster(keyID, endpoint string) engine.MasterKeyConfig {
	return engine.MasterKeyConfig{Type: keys.KindKMS, KMS: keys.KMSConfig{
		KeyID: keyID, Region: kmstest.Region, Endpoint: endpoint, AllowInsecureEndpoint: true,
	}}
}

// writeKMSConfig writes a tikv.toml whose master key is a KMS key.
func writeKMSConfig(t *testing.T, keyID, endpoint string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tikv.toml")
	doc := fmt.Sprintf(`[security.encryption]
data-encryption-method = "aes256-ctr"

[security.encryption.master-key]
type = "kms"
key-id = %q
region = %q
endpoint = %q
allow-insecure-endpoint = true
`, keyID, kmstest.Region, endpoint)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// liveStore is a store open in this process: the engine and Pebble on it.
type liveStore struct {
	t   *testing.T
	dir string
	fs  *engine.FS
	db  *pebble.DB
}

func openLive(t *testing.T, dir string, cfg engine.Config) *liveStore {
	t.Helper()
	efs, err := engine.Open(vfs.Default, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: efs, Logger: quietLogger{}})
	if err != nil {
		efs.Close()
		t.Fatal(err)
	}
	return &liveStore{t: t, dir: dir, fs: efs, db: db}
}

// put writes keys from to to and flushes them into a table, a new file.
func (s *liveStore) put(from, to int) {
	s.t.Helper()
	for i := from; i < to; i++ {
		if err := s.db.Set(testKey(i), testValue(i), pebble.NoSync); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

// check reads keys 0 to n-1 back.
func (s *liveStore) check(n int) {
	s.t.Helper()
	for i := range n {
		v, c, err := s.db.Get(testKey(i))
		if err != nil {
			s.t.Fatalf("%s: get %d: %v", s.dir, i, err)
		}
		if !bytes.Equal(v, testValue(i)) {
			s.t.Fatalf("%s: key %d reads %q", s.dir, i, v)
		}
		c.Close()
	}
}

func (s *liveStore) close() {
	s.t.Helper()
	if err := errors.Join(s.db.Close(), s.fs.Close()); err != nil {
		s.t.Fatal(err)
	}
}

// TestKMSStore: a store created under a KMS key through engine.Open, read
// back after a reopen, moved online to a second KMS key
// (RotateMasterKey) and offline back to the first (tdectl rotate
// master-key with kms: specs); tdectl status and dump name the key it is
// under at each step, and tdectl rotate data-key works on it.
func TestKMSStore(t *testing.T) {
	srv, _, dir := kmsSetup(t, "alias/tde-a", "alias/tde-b")
	configA, configB := writeKMSConfig(t, "alias/tde-a", srv.URL), writeKMSConfig(t, "alias/tde-b", srv.URL)

	fill(t, dir, configA, 0, 600)
	readBack(t, dir, configA, 600)
	d := status(t, "--store", dir, "--config", configA)
	if !strings.Contains(d.MasterKey, `kms master key "alias/tde-a"`) || d.ActiveKey == nil || d.Method != "aes256-ctr" || !d.Strict {
		t.Fatalf("status of a store under alias/tde-a: %+v", d)
	}
	if out := mustTdectl(t, "dump", "--store", dir, "--config", configA); !strings.Contains(out, "alias/tde-a") || !strings.Contains(out, d.ActiveKey.ID) {
		t.Errorf("dump does not name the KMS key and the data key:\n%s", out)
	}

	// Online: the running store moves to alias/tde-b and goes on.
	s := openLive(t, dir, loadConfig(t, configA))
	s.put(600, 700)
	if err := s.fs.RotateMasterKey(kmsMaster("alias/tde-b", srv.URL)); err != nil {
		t.Fatalf("RotateMasterKey to alias/tde-b: %v", err)
	}
	s.put(700, 800)
	s.check(800)
	s.close()
	if d := status(t, "--store", dir, "--config", configB); !strings.Contains(d.MasterKey, "alias/tde-b") {
		t.Errorf("after the online rotation, status says %q", d.MasterKey)
	}
	wantFail(t, exitUsage, []string{"wrapped under master key kms alias/tde-b", "alias/tde-a"}, "status", "--store", dir, "--config", configA)

	// Offline: tdectl moves it back to alias/tde-a.
	out := mustTdectl(t, "rotate", "master-key", "--store", dir, "--config", configB,
		"--new", kmsSpec("alias/tde-a", srv.URL), "--old", kmsSpec("alias/tde-b", srv.URL))
	if !strings.Contains(out, `rewrapped the key registry`) || !strings.Contains(out, "alias/tde-a") || !strings.Contains(out, "checked:") {
		t.Errorf("rotate master-key:\n%s", out)
	}
	if out := mustTdectl(t, "rotate", "master-key", "--store", dir, "--config", configA); !strings.Contains(out, "already wrapped under") {
		t.Errorf("a second rotate master-key:\n%s", out)
	}
	before := status(t, "--store", dir, "--config", configA)
	if !strings.Contains(before.MasterKey, "alias/tde-a") {
		t.Errorf("after the offline rotation, status says %q", before.MasterKey)
	}
	out = mustTdectl(t, "rotate", "data-key", "--store", dir, "--config", configA)
	if after := status(t, "--store", dir, "--config", configA); after.ActiveKey.ID == before.ActiveKey.ID || !strings.Contains(out, after.ActiveKey.ID) {
		t.Errorf("rotate data-key: %s", out)
	}
	readBack(t, dir, configA, 800)
}

// TestKMSDownAtFirstStart (tikv#9488): with the KMS down, the first start
// of a store fails with a clear error naming the key and the endpoint,
// and makes no key registry; once the KMS is back the store starts as a
// new, strict store and works.
//
// What the failed start leaves today is the store directory with an
// empty file dictionary, its marker and TDE-LOCK: engine.Open writes a new
// store's empty dictionary before it opens the key registry, which is
// where the KMS is first called. That leftover is harmless (the next
// start takes it as a new store, below), but not "nothing": making it
// nothing is an engine change (open the registry, or at least reach the
// KMS, before writing the dictionary), so this test pins exactly what is
// left, and fails if anything more is.
func TestKMSDownAtFirstStart(t *testing.T) {
	srv, _, dir := kmsSetup(t, "alias/tde")
	config := writeKMSConfig(t, "alias/tde", srv.URL)
	srv.Stop()

	for range 2 { // a second failed start adds nothing
		_, err := engine.Open(vfs.Default, dir, loadConfig(t, config))
		if !errors.Is(err, keys.ErrKMSUnavailable) || !strings.Contains(err.Error(), "alias/tde") || !strings.Contains(err.Error(), srv.URL) {
			t.Fatalf("first start with the KMS down: %v, want ErrKMSUnavailable naming the key and endpoint", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			entries, _ := os.ReadDir(dir)
			t.Fatalf("a failed first start left the store directory (%v) holding %d files, want nothing", err, len(entries))
		}
	}

	srv.Restart()
	fill(t, dir, config, 0, 300)
	readBack(t, dir, config, 300)
	if d := status(t, "--store", dir, "--config", config); !d.Strict || !strings.Contains(d.MasterKey, "alias/tde") {
		t.Errorf("the store started after the outage: %+v", d)
	}
}

// TestKMSDownAtReopen: with the KMS down, reopening a store fails with a
// clear error, by engine.Open and by tdectl (exit 1, "nothing was
// changed"), and not a byte, mode or mtime of the store changes; once the
// KMS is back on the same port and data path, it opens.
func TestKMSDownAtReopen(t *testing.T) {
	srv, _, dir := kmsSetup(t, "alias/tde")
	config := writeKMSConfig(t, "alias/tde", srv.URL)
	fill(t, dir, config, 0, 600)
	srv.Stop()

	before, bytesBefore := snapshot(t, dir), tree(t, dir)
	flags := []string{"--store", dir, "--config", config}
	for _, cmd := range [][]string{{"status"}, {"dump"}} {
		wantFail(t, exitFailed, []string{"KMS unavailable", "alias/tde", "connection refused", "nothing was changed"}, append(cmd, flags...)...)
	}
	// status and dump change nothing at all, mtimes included.
	if d := snapshotDiff(before, snapshot(t, dir)); d != "" {
		t.Fatalf("status or dump with the KMS down changed the store:\n%s", d)
	}
	// Writable opens take the locks (whose mtimes may change); not a byte
	// of the store changes.
	_, err := engine.Open(vfs.Default, dir, loadConfig(t, config))
	if !errors.Is(err, keys.ErrKMSUnavailable) || !strings.Contains(err.Error(), "alias/tde") {
		t.Errorf("reopen with the KMS down: %v", err)
	}
	for _, cmd := range [][]string{{"rotate", "data-key"}, {"reencrypt"}} {
		wantFail(t, exitFailed, []string{"KMS unavailable", "alias/tde", "connection refused", "nothing was changed"}, append(cmd, flags...)...)
	}
	if now := tree(t, dir); now != bytesBefore {
		t.Fatal("failed opens changed the bytes of the store")
	}
	srv.Restart()
	readBack(t, dir, config, 600)
}

// TestKMSOutageWhileRunning: the KMS goes down under a running store.
// Reads and writes go on (data keys are in memory), and so does a
// data-key rotation: the registry key KMS gave at open is cached, so
// rotating data keys needs no KMS call. What needs the KMS, a move to
// another KMS key (GenerateDataKey), fails cleanly: a typed error naming
// the key, the registry file unchanged, the store still running; it
// succeeds once the KMS is back on the same port and data path.
func TestKMSOutageWhileRunning(t *testing.T) {
	srv, _, dir := kmsSetup(t, "alias/tde-a", "alias/tde-b")
	configA := writeKMSConfig(t, "alias/tde-a", srv.URL)
	s := openLive(t, dir, loadConfig(t, configA))
	s.put(0, 300)

	srv.Stop()
	s.put(300, 600)
	s.check(600)
	old := s.fs.Status().ActiveKey.ID
	if err := s.fs.RotateDataKey(); err != nil {
		t.Fatalf("data-key rotation with the KMS down: %v", err)
	}
	if s.fs.Status().ActiveKey.ID == old {
		t.Fatal("RotateDataKey kept the active key")
	}
	s.put(600, 700)

	registry := s.fs.RegistryPath()
	reg, err := os.ReadFile(registry)
	if err != nil {
		t.Fatal(err)
	}
	err = s.fs.RotateMasterKey(kmsMaster("alias/tde-b", srv.URL))
	if !errors.Is(err, keys.ErrKMSUnavailable) || !strings.Contains(err.Error(), "alias/tde-b") {
		t.Fatalf("master-key rotation with the KMS down: %v, want ErrKMSUnavailable naming alias/tde-b", err)
	}
	if now, err := os.ReadFile(registry); err != nil || !bytes.Equal(now, reg) {
		t.Fatalf("a failed master-key rotation changed the registry (%v)", err)
	}
	s.put(700, 800)
	s.check(800)

	srv.Restart()
	if err := s.fs.RotateMasterKey(kmsMaster("alias/tde-b", srv.URL)); err != nil {
		t.Fatalf("master-key rotation with the KMS back: %v", err)
	}
	s.put(800, 900)
	s.close()
	readBack(t, dir, writeKMSConfig(t, "alias/tde-b", srv.URL), 900)
}

// TestKMSKeyUnusable: a store under a KMS key that was disabled
// (DisableKey), or opened with a key id the KMS does not have, or with
// another KMS key: tdectl says which and why, with exit status 1 for what
// the KMS refuses and 2 for a wrong master key, and nothing changes.
func TestKMSKeyUnusable(t *testing.T) {
	srv, ids, dir := kmsSetup(t, "alias/tde", "alias/other")
	id := ids["alias/tde"]
	config := writeKMSConfig(t, "alias/tde", srv.URL)
	fill(t, dir, config, 0, 300)
	before := tree(t, dir)

	srv.DisableKey(id)
	wantFail(t, exitFailed, []string{"KMS key not found or not usable", "DisabledException", "alias/tde"}, "status", "--store", dir, "--config", config)
	if _, err := engine.Open(vfs.Default, dir, loadConfig(t, config)); !errors.Is(err, keys.ErrKMSKeyNotFound) {
		t.Errorf("engine.Open under a disabled key: %v", err)
	}
	srv.EnableKey(id)

	wantFail(t, exitFailed, []string{"KMS key not found or not usable", "NotFoundException", "alias/missing"},
		"status", "--store", dir, "--config", writeKMSConfig(t, "alias/missing", srv.URL))
	wantFail(t, exitUsage, []string{"wrapped under master key kms alias/tde, not under kms master key \"alias/other\""},
		"rotate", "data-key", "--store", dir, "--config", writeKMSConfig(t, "alias/other", srv.URL))
	if tree(t, dir) != before {
		t.Fatal("refused opens changed the bytes of the store")
	}
	readBack(t, dir, config, 300)
}
