package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tde-go/tde/keys"
)

// cfgKeyFile writes b to a fresh file with the given mode and returns its
// path.
func cfgKeyFile(t testing.TB, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// cfgRandom returns n random bytes.
func cfgRandom(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// cfgHexKey returns a TiKV key file's contents and the key's hex digits.
func cfgHexKey(t testing.TB) (contents []byte, digits string) {
	digits = hex.EncodeToString(cfgRandom(t, 32))
	return []byte(digits + "\n"), digits
}

// wantConfigError checks that err is a *ConfigError matching
// ErrInvalidConfig and naming setting, and returns it.
func wantConfigError(t *testing.T, err error, setting string) *ConfigError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s", setting)
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("error %q does not match ErrInvalidConfig", err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %q (%T) is not a *ConfigError", err, err)
	}
	if !strings.Contains(err.Error(), setting) {
		t.Errorf("error %q does not name %s", err, setting)
	}
	return ce
}

func TestMasterKeyLoadFile(t *testing.T) {
	contents, _ := cfgHexKey(t)
	path := cfgKeyFile(t, "tikv.key", contents, 0o600)
	k, owned, err := MasterKeyConfig{Type: "file", Path: path}.load(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !owned {
		t.Error("a key loaded from a file is not owned by the caller")
	}
	if k.Kind() != keys.KindFile {
		t.Errorf("Kind = %q, want %q", k.Kind(), keys.KindFile)
	}
}

func TestMasterKeyLoadRaw(t *testing.T) {
	for _, n := range []int{48, 56, 64} {
		path := cfgKeyFile(t, "crdb.key", cfgRandom(t, n), 0o600)
		k, owned, err := MasterKeyConfig{Type: "raw", Path: path}.load(context.Background(), false)
		if err != nil {
			t.Fatalf("%d-byte key: %v", n, err)
		}
		if !owned || k.Kind() != keys.KindRaw {
			t.Errorf("%d-byte key: owned %v, kind %q; want true, %q", n, owned, k.Kind(), keys.KindRaw)
		}
		k.Close()
	}
}

func TestMasterKeyLoadPlaintext(t *testing.T) {
	k, owned, err := MasterKeyConfig{Type: "plaintext"}.load(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !owned || k.Kind() != keys.KindPlaintext {
		t.Errorf("owned %v, kind %q; want true, %q", owned, k.Kind(), keys.KindPlaintext)
	}
}

func TestMasterKeyLoadKMS(t *testing.T) {
	// Keep the SDK away from the machine's AWS configuration; NewKMS makes
	// no call, so no endpoint is reached.
	empty := cfgKeyFile(t, "aws-config", nil, 0o600)
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	c := MasterKeyConfig{Type: "kms", KMS: keys.KMSConfig{KeyID: "alias/tde", Region: "us-west-2", Endpoint: "http://127.0.0.1:1", AllowInsecureEndpoint: true}}
	k, owned, err := c.load(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !owned || k.Kind() != keys.KindKMS || k.ID() != "alias/tde" {
		t.Errorf("owned %v, kind %q, id %q; want true, %q, alias/tde", owned, k.Kind(), k.ID(), keys.KindKMS)
	}

	_, _, err = MasterKeyConfig{Type: "kms", KMS: keys.KMSConfig{Region: "us-west-2"}}.load(context.Background(), false)
	wantConfigError(t, err, "MasterKey")
}

func TestMasterKeyLoadCallerKey(t *testing.T) {
	_, digits := cfgHexKey(t)
	held, err := keys.ParseHexKey([]byte(digits + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// Type and Path are ignored when Key is set, even if they are wrong.
	c := MasterKeyConfig{Type: "file", Path: filepath.Join(t.TempDir(), "missing"), Key: held}
	k, owned, err := c.load(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if owned {
		t.Error("a caller-held key is reported as owned")
	}
	if k != held {
		t.Error("load did not return the caller's key")
	}
	if !c.isSet() || !(MasterKeyConfig{Key: held}).isSet() {
		t.Error("isSet is false for a caller-held key")
	}
}

func TestMasterKeyLoadErrors(t *testing.T) {
	contents, digits := cfgHexKey(t)
	loose := cfgKeyFile(t, "loose.key", contents, 0o644)
	bad := cfgKeyFile(t, "bad.key", []byte(digits), 0o600) // no newline
	tikv := cfgKeyFile(t, "tikv.key", contents, 0o600)     // 65 bytes
	short := cfgKeyFile(t, "short.key", cfgRandom(t, 47), 0o600)
	missing := filepath.Join(t.TempDir(), "missing.key")

	for _, tc := range []struct {
		name    string
		c       MasterKeyConfig
		setting string
		is      error
	}{
		{"loose permissions", MasterKeyConfig{Type: "file", Path: loose}, "MasterKey.Path", keys.ErrLoosePermissions},
		{"bad hex file", MasterKeyConfig{Type: "file", Path: bad}, "MasterKey.Path", keys.ErrInvalidKeyFile},
		{"TiKV file as raw", MasterKeyConfig{Type: "raw", Path: tikv}, "MasterKey.Path", keys.ErrInvalidKeyFile},
		{"short raw file", MasterKeyConfig{Type: "raw", Path: short}, "MasterKey.Path", keys.ErrInvalidKeyFile},
		{"missing file", MasterKeyConfig{Type: "file", Path: missing}, "MasterKey.Path", fs.ErrNotExist},
		{"no path", MasterKeyConfig{Type: "file"}, "MasterKey.Path", nil},
		{"no type", MasterKeyConfig{}, "MasterKey.Type", nil},
		{"unknown type", MasterKeyConfig{Type: "hsm"}, "MasterKey.Type", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, owned, err := tc.c.load(context.Background(), false)
			if k != nil || owned {
				t.Errorf("got a key (owned %v) with the error", owned)
			}
			wantConfigError(t, err, tc.setting)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not match %v", err, tc.is)
			}
			if strings.Contains(strings.ToLower(err.Error()), digits) {
				t.Errorf("error %q carries the key", err)
			}
		})
	}
}

func TestMasterKeyLoadAllowLoose(t *testing.T) {
	contents, _ := cfgHexKey(t)
	loose := cfgKeyFile(t, "loose.key", contents, 0o640)
	k, _, err := MasterKeyConfig{Type: "file", Path: loose}.load(context.Background(), true)
	if err != nil {
		t.Fatalf("load with allowLoose: %v", err)
	}
	k.Close()

	raw := cfgKeyFile(t, "loose-raw.key", cfgRandom(t, 64), 0o604)
	if _, _, err := (MasterKeyConfig{Type: "raw", Path: raw}).load(context.Background(), false); !errors.Is(err, keys.ErrLoosePermissions) {
		t.Errorf("raw key file readable by others: err = %v, want ErrLoosePermissions", err)
	}
	cfg := Config{MasterKey: MasterKeyConfig{Type: "raw", Path: raw}, AllowLooseKeyPermissions: true}
	cur, prev, release, err := cfg.loadMasterKeys(context.Background())
	if err != nil {
		t.Fatalf("AllowLooseKeyPermissions: %v", err)
	}
	if prev != nil {
		t.Error("a previous key without one configured")
	}
	release()
	if _, err := cur.Wrap(context.Background(), []byte("x"), nil); !errors.Is(err, keys.ErrClosed) {
		t.Errorf("after release, Wrap on the loaded key: %v, want ErrClosed", err)
	}
}

// An error about a key read from text names the setting as written.
func TestMasterKeyLoadErrorNamesSetting(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.key")
	cfg, err := ParseConfig([]byte(`
[security.encryption]
data-encryption-method = "aes128-ctr"
[security.encryption.master-key]
type = "file"
path = "` + missing + `"
`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = cfg.MasterKey.load(context.Background(), false)
	wantConfigError(t, err, "security.encryption.master-key.path")

	key := cfgKeyFile(t, "aes.key", cfgRandom(t, 48), 0o600)
	cfg, err = ParseCockroachSpec("path=/data,key=" + key + ",old-key=" + missing)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = cfg.PreviousMasterKey.load(context.Background(), false)
	ce := wantConfigError(t, err, "old-key")
	if ce.Setting != "old-key" {
		t.Errorf("Setting = %q, want old-key", ce.Setting)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q does not match fs.ErrNotExist", err)
	}
}

func TestLoadMasterKeys(t *testing.T) {
	_, digits := cfgHexKey(t)
	held, err := keys.ParseHexKey([]byte(digits + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	rawPath := cfgKeyFile(t, "old.key", cfgRandom(t, 56), 0o600)

	cfg := Config{MasterKey: MasterKeyConfig{Key: held}, PreviousMasterKey: MasterKeyConfig{Type: "raw", Path: rawPath}}
	cur, prev, release, err := cfg.loadMasterKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cur != held || prev == nil || prev.Kind() != keys.KindRaw {
		t.Fatalf("cur %v, prev %v; want the caller's key and a raw key", cur, prev)
	}
	release()
	ctx := context.Background()
	if _, err := held.Wrap(ctx, []byte("x"), nil); err != nil {
		t.Errorf("release closed the caller's key: %v", err)
	}
	if _, err := prev.Wrap(ctx, []byte("x"), nil); !errors.Is(err, keys.ErrClosed) {
		t.Errorf("release left the loaded previous key open: %v", err)
	}

	// A programmatic config's previous key is named by its Go field.
	cfg.PreviousMasterKey.Path = filepath.Join(t.TempDir(), "missing")
	_, _, _, err = cfg.loadMasterKeys(ctx)
	wantConfigError(t, err, "PreviousMasterKey.Path")
}

// No error about a key file carries the key, whatever is wrong with it.
func TestMasterKeyErrorsCarryNoKey(t *testing.T) {
	key := cfgRandom(t, 48)
	for _, tc := range []struct {
		typ  string
		b    []byte
		mode os.FileMode
	}{
		{"raw", key, 0o644},
		{"raw", key[:47], 0o600},
		{"file", []byte(hex.EncodeToString(key[:32]) + "x\n"), 0o600},
		{"file", key[:32], 0o600},
	} {
		p := cfgKeyFile(t, "k", tc.b, tc.mode)
		_, _, err := MasterKeyConfig{Type: tc.typ, Path: p}.load(context.Background(), false)
		if err == nil {
			t.Fatalf("%s key %d bytes mode %v: no error", tc.typ, len(tc.b), tc.mode)
		}
		msg := err.Error()
		if bytes.Contains([]byte(msg), key[:8]) || strings.Contains(msg, hex.EncodeToString(key[:8])) {
			t.Errorf("error %q carries key bytes", msg)
		}
	}
}
