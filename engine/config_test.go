package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tde-go/tde/keys"
)

// A whole tikv.toml, as TiKV's documentation shows the encryption
// settings, among other tables ParseConfig must leave alone.
const tikvTOML = `
log-level = "info"

[server]
addr = "0.0.0.0:20160"
grpc-concurrency = 4

[storage]
data-dir = "/var/lib/tikv"

[security]
ca-path = "/etc/tikv/ca.pem"
cert-path = "/etc/tikv/tikv.pem"
key-path = "/etc/tikv/tikv-key.pem"

[security.encryption]
data-encryption-method = "aes256-ctr"
data-key-rotation-period = "168h" # 7 days
enable-file-dictionary-log = true
file-dictionary-rewrite-threshold = 1000000

[security.encryption.master-key]
type = "file"
path = "/path/to/key/file"

[security.encryption.previous-master-key]
type = "kms"
key-id = "0987dcba-09fe-87dc-65ba-ab0987654321"
region = "us-west-2"
endpoint = "https://kms.us-west-2.amazonaws.com"
vendor = "aws"

[raftstore]
sync-log = true
`

func TestParseConfigTiKV(t *testing.T) {
	cfg, err := ParseConfig([]byte(tikvTOML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != keys.MethodAES256CTR {
		t.Errorf("Method = %v, want aes256-ctr", cfg.Method)
	}
	if cfg.RotationPeriod != 168*time.Hour {
		t.Errorf("RotationPeriod = %v, want 168h", cfg.RotationPeriod)
	}
	if cfg.DictionaryRewriteThreshold != 1000000 {
		t.Errorf("DictionaryRewriteThreshold = %d, want 1000000", cfg.DictionaryRewriteThreshold)
	}
	if mk := cfg.MasterKey; mk.Type != "file" || mk.Path != "/path/to/key/file" || mk.KMS != (keys.KMSConfig{}) {
		t.Errorf("MasterKey = %+v, want file /path/to/key/file", mk)
	}
	want := keys.KMSConfig{KeyID: "0987dcba-09fe-87dc-65ba-ab0987654321", Region: "us-west-2", Endpoint: "https://kms.us-west-2.amazonaws.com"}
	if pk := cfg.PreviousMasterKey; pk.Type != "kms" || pk.KMS != want || pk.Path != "" {
		t.Errorf("PreviousMasterKey = %+v, want kms %+v", pk, want)
	}
	if cfg.StorePath != "" {
		t.Errorf("StorePath = %q, want none: TiKV's table has no store path", cfg.StorePath)
	}
}

// TiKV's own test of its EncryptionConfig decodes the table's content at
// the top level.
func TestParseConfigTopLevel(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
data-encryption-method = "aes128-ctr"
data-key-rotation-period = "14d"
enable-file-dictionary-log = true
file-dictionary-rewrite-threshold = 1000000
[previous-master-key]
type = "plaintext"
[master-key]
type = "kms"
key-id = "key_id"
region = "region"
endpoint = "endpoint"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != keys.MethodAES128CTR || cfg.RotationPeriod != 14*24*time.Hour {
		t.Errorf("Method %v, RotationPeriod %v; want aes128-ctr, 336h", cfg.Method, cfg.RotationPeriod)
	}
	if want := (keys.KMSConfig{KeyID: "key_id", Region: "region", Endpoint: "endpoint"}); cfg.MasterKey.Type != "kms" || cfg.MasterKey.KMS != want {
		t.Errorf("MasterKey = %+v, want kms %+v", cfg.MasterKey, want)
	}
	if cfg.PreviousMasterKey.Type != "plaintext" {
		t.Errorf("PreviousMasterKey.Type = %q, want plaintext", cfg.PreviousMasterKey.Type)
	}

	// Inline tables and dotted keys are the same TOML.
	cfg, err = ParseConfig([]byte(`
data-encryption-method = "sm4-ctr"
master-key = { type = "file", path = "/k" }
previous-master-key.type = "raw"
previous-master-key.path = "/old"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != keys.MethodSM4CTR || cfg.MasterKey.Path != "/k" || cfg.PreviousMasterKey.Type != "raw" || cfg.PreviousMasterKey.Path != "/old" {
		t.Errorf("got %v %+v %+v", cfg.Method, cfg.MasterKey, cfg.PreviousMasterKey)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":            "",
		"no encryption":    "[server]\naddr = \"x\"\n[security]\nca-path = \"/ca\"\n",
		"empty table":      "[security.encryption]\n",
		"method only":      "[security.encryption]\ndata-encryption-method = \"plaintext\"\n",
		"top-level method": "data-encryption-method = \"plaintext\"\n",
	} {
		cfg, err := ParseConfig([]byte(doc))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// TiKV's defaults: plaintext, a week, plaintext master keys.
		if cfg.Method != keys.MethodPlaintext || cfg.RotationPeriod != 7*24*time.Hour ||
			cfg.MasterKey.Type != keys.KindPlaintext || cfg.PreviousMasterKey.Type != keys.KindPlaintext {
			t.Errorf("%s: got %v, %v, %+v, %+v", name, cfg.Method, cfg.RotationPeriod, cfg.MasterKey, cfg.PreviousMasterKey)
		}
		if cfg.DictionaryRewriteThreshold != 0 {
			t.Errorf("%s: DictionaryRewriteThreshold = %d, want 0 (the engine's default)", name, cfg.DictionaryRewriteThreshold)
		}
	}
}

func TestParseConfigMethods(t *testing.T) {
	for _, m := range keys.Methods() {
		for _, spelling := range []string{m.String(), strings.ToUpper(m.String())} {
			cfg, err := ParseConfig(fmt.Appendf(nil, "[security.encryption]\ndata-encryption-method = %q\n", spelling))
			if err != nil {
				t.Errorf("%s: %v", spelling, err)
				continue
			}
			if cfg.Method != m {
				t.Errorf("%s: Method = %v", spelling, cfg.Method)
			}
		}
	}
}

// An encrypting method with a plaintext master key is allowed, as in TiKV
// (package keys warns about it).
func TestParseConfigPlaintextMasterKey(t *testing.T) {
	cfg, err := ParseConfig([]byte("[security.encryption]\ndata-encryption-method = \"aes128-ctr\"\n[security.encryption.master-key]\ntype = \"plaintext\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != keys.MethodAES128CTR || cfg.MasterKey.Type != keys.KindPlaintext {
		t.Errorf("got %v, %+v", cfg.Method, cfg.MasterKey)
	}
}

func TestParseTiKVDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d":         168 * time.Hour,
		"168h":       168 * time.Hour,
		"1h30m":      90 * time.Minute,
		"10m":        10 * time.Minute,
		"500ms":      500 * time.Millisecond,
		"1s":         time.Second,
		"1.5h":       90 * time.Minute,
		"1d12h":      36 * time.Hour,
		" 2h ":       2 * time.Hour,
		"1h 30m":     90 * time.Minute,
		"168h0m0s":   168 * time.Hour,
		"1m30s500ms": 90*time.Second + 500*time.Millisecond,
		"1.0005s":    time.Second, // milliseconds, truncated, as in TiKV
	} {
		got, err := parseTiKVDuration(in)
		if err != nil || got != want {
			t.Errorf("parseTiKVDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", " ", "0s", "0d", "0.1ms", "-1h", "+1h", "1", "h", "1x", "1w", "1us", "1ns", "1µs",
		"30m1h", "1h1h", "1ms1s", "1e3s", "1..5h", "1.5.h", "inf h", "NaNs", "1h-30m", "9999999999d",
	} {
		if got, err := parseTiKVDuration(in); err == nil {
			t.Errorf("parseTiKVDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseConfigDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 168 * time.Hour, "1h30m": 90 * time.Minute, "500ms": 500 * time.Millisecond} {
		cfg, err := ParseConfig(fmt.Appendf(nil, "[security.encryption]\ndata-key-rotation-period = %q\n", in))
		if err != nil || cfg.RotationPeriod != want {
			t.Errorf("%s: RotationPeriod = %v, %v; want %v", in, cfg.RotationPeriod, err, want)
		}
	}
	_, err := ParseConfig([]byte("[security.encryption]\ndata-key-rotation-period = \"1w\"\n"))
	ce := wantConfigError(t, err, "security.encryption.data-key-rotation-period")
	if ce.Value != "1w" {
		t.Errorf("Value = %q, want 1w", ce.Value)
	}
}

func TestParseConfigKMS(t *testing.T) {
	for _, vendor := range []string{"", `vendor = "aws"`, `vendor = "AWS"`} {
		cfg, err := ParseConfig([]byte(`
[security.encryption]
data-encryption-method = "aes256-ctr"
[security.encryption.master-key]
type = "kms"
key-id = "arn:aws:kms:us-east-1:111122223333:alias/tde"
region = "us-east-1"
endpoint = "http://localhost:4566"
allow-insecure-endpoint = true
` + vendor + "\n"))
		if err != nil {
			t.Errorf("%q: %v", vendor, err)
			continue
		}
		want := keys.KMSConfig{KeyID: "arn:aws:kms:us-east-1:111122223333:alias/tde", Region: "us-east-1", Endpoint: "http://localhost:4566", AllowInsecureEndpoint: true}
		if cfg.MasterKey.Type != keys.KindKMS || cfg.MasterKey.KMS != want {
			t.Errorf("%q: MasterKey = %+v, want %+v", vendor, cfg.MasterKey, want)
		}
	}
	for _, vendor := range []string{"gcp", "azure", "aliyun"} {
		_, err := ParseConfig([]byte("[security.encryption.master-key]\ntype = \"kms\"\nkey-id = \"k\"\nvendor = \"" + vendor + "\"\n"))
		wantConfigError(t, err, "security.encryption.master-key.vendor")
		if err != nil && !strings.Contains(err.Error(), "AWS KMS API") {
			t.Errorf("%s: error %q does not say only the AWS KMS API is supported", vendor, err)
		}
	}
	// TiKV's GCP and Azure settings live in a sub-table.
	_, err := ParseConfig([]byte(`
[security.encryption.master-key]
type = "kms"
key-id = "projects/p/locations/global/keyRings/r/cryptoKeys/k"
vendor = "gcp"
[security.encryption.master-key.gcp]
credential-file-path = "/creds.json"
`))
	wantConfigError(t, err, "security.encryption.master-key.gcp")
	if err != nil && (!strings.Contains(err.Error(), "AWS KMS API") || !strings.Contains(err.Error(), "line 6")) {
		t.Errorf("error %q does not say only the AWS KMS API is supported, at line 6", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		setting string   // the setting the error must name
		more    []string // other text it must hold (a line, a hint)
		is      error
	}{
		{"unknown key", "[security.encryption]\ndata-encryption-methd = \"aes128-ctr\"\n",
			"security.encryption.data-encryption-methd", []string{"line 2", "unknown"}, nil},
		{"unknown key in master-key", "[security.encryption]\n\n[security.encryption.master-key]\ntype = \"file\"\npth = \"/k\"\n",
			"security.encryption.master-key.pth", []string{"line 5"}, nil},
		{"unknown key in previous-master-key", "[security.encryption.previous-master-key]\ntype = \"kms\"\nkey-id = \"k\"\nkeyid = \"k\"\n",
			"security.encryption.previous-master-key.keyid", []string{"line 4"}, nil},
		{"unknown key at top level", "data-encryption-method = \"aes128-ctr\"\nfoo = 1\n",
			"foo", []string{"line 2"}, nil},
		{"unknown table at top level", "data-encryption-method = \"aes128-ctr\"\n[server]\naddr = \"x\"\n",
			"server", []string{"line 2"}, nil},
		{"snake case", "[security.encryption]\ndata_encryption_method = \"aes128-ctr\"\n",
			"security.encryption.data_encryption_method", []string{`did you mean "data-encryption-method"`}, nil},
		{"snake case in a tikv.toml", "[server]\n[security]\ndata_encryption_method = \"aes128-ctr\"\n",
			"security.data_encryption_method", []string{"line 3", "[security.encryption]"}, nil},
		{"misspelled table", "[security]\nca-path = \"x\"\n[security.encrypton]\ndata-encryption-method = \"aes128-ctr\"\n",
			"security.encrypton", []string{"line 3"}, nil},
		{"misplaced in a tikv.toml", "data-encryption-method = \"aes128-ctr\"\n[security]\nca-path = \"x\"\n",
			"data-encryption-method", []string{"line 1", "[security.encryption]"}, nil},
		{"both places", "data-encryption-method = \"aes128-ctr\"\n[security.encryption]\ndata-encryption-method = \"aes256-ctr\"\n",
			"data-encryption-method", []string{"line 1", "[security.encryption]"}, nil},
		{"method of the wrong type", "[security.encryption]\ndata-encryption-method = 5\n",
			"security.encryption.data-encryption-method", []string{"line 2", "expected a string, got an integer"}, nil},
		{"unknown method", "[security.encryption]\ndata-encryption-method = \"aes512-ctr\"\n",
			"security.encryption.data-encryption-method", []string{"aes512-ctr"}, keys.ErrUnknownMethod},
		{"empty method", "[security.encryption]\ndata-encryption-method = \"\"\n",
			"security.encryption.data-encryption-method", nil, keys.ErrUnknownMethod},
		{"TiKV's unknown method", "[security.encryption]\ndata-encryption-method = \"unknown\"\n",
			"security.encryption.data-encryption-method", nil, keys.ErrUnknownMethod},
		{"period of the wrong type", "[security.encryption]\ndata-key-rotation-period = 7\n",
			"security.encryption.data-key-rotation-period", []string{"line 2", "expected a string"}, nil},
		{"bad period", "[security.encryption]\ndata-key-rotation-period = \"7 days\"\n",
			"security.encryption.data-key-rotation-period", []string{"7 days"}, nil},
		{"zero period", "[security.encryption]\ndata-key-rotation-period = \"0s\"\n",
			"security.encryption.data-key-rotation-period", []string{"positive"}, nil},
		{"dictionary log of the wrong type", "[security.encryption]\nenable-file-dictionary-log = \"yes\"\n",
			"security.encryption.enable-file-dictionary-log", []string{"expected a boolean, got a string"}, nil},
		{"threshold of the wrong type", "[security.encryption]\nfile-dictionary-rewrite-threshold = \"many\"\n",
			"security.encryption.file-dictionary-rewrite-threshold", []string{"expected an integer"}, nil},
		{"negative threshold", "[security.encryption]\nfile-dictionary-rewrite-threshold = -1\n",
			"security.encryption.file-dictionary-rewrite-threshold", nil, nil},
		{"zero threshold", "[security.encryption]\nfile-dictionary-rewrite-threshold = 0\n",
			"security.encryption.file-dictionary-rewrite-threshold", nil, nil},
		{"master-key not a table", "[security.encryption]\nmaster-key = \"file\"\n",
			"security.encryption.master-key", []string{"expected a table"}, nil},
		{"type of the wrong type", "[security.encryption]\nmaster-key = { type = 5 }\n",
			"security.encryption.master-key.type", []string{"expected a string, got an integer"}, nil},
		{"file without path", "[security.encryption]\ndata-encryption-method = \"aes128-ctr\"\n[security.encryption.master-key]\ntype = \"file\"\n",
			"security.encryption.master-key.path", nil, nil},
		{"file without path, top level", "[master-key]\ntype = \"file\"\n",
			"master-key.path", nil, nil},
		{"previous file without path", "[security.encryption.previous-master-key]\ntype = \"file\"\n",
			"security.encryption.previous-master-key.path", nil, nil},
		{"no type", "[security.encryption.master-key]\npath = \"/k\"\n",
			"security.encryption.master-key.type", []string{"required"}, nil},
		{"empty previous table", "[security.encryption.previous-master-key]\n",
			"security.encryption.previous-master-key.type", []string{"required"}, nil},
		{"unknown type", "[security.encryption.master-key]\ntype = \"hsm\"\n",
			"security.encryption.master-key.type", []string{"hsm"}, nil},
		{"kms without key-id", "[security.encryption.master-key]\ntype = \"kms\"\nregion = \"us-west-2\"\n",
			"security.encryption.master-key.key-id", nil, nil},
		{"path with kms", "[security.encryption.master-key]\ntype = \"kms\"\nkey-id = \"k\"\npath = \"/k\"\n",
			"security.encryption.master-key.path", []string{"only for"}, nil},
		{"key-id with file", "[security.encryption.master-key]\ntype = \"file\"\npath = \"/k\"\nkey-id = \"k\"\n",
			"security.encryption.master-key.key-id", []string{"only for"}, nil},
		{"vendor with file", "[security.encryption.master-key]\ntype = \"file\"\npath = \"/k\"\nvendor = \"aws\"\n",
			"security.encryption.master-key.vendor", []string{"only for"}, nil},
		{"syntax error", "[security.encryption\n",
			"TOML", []string{"line 1"}, nil},
		{"duplicate key", "[security.encryption]\ndata-encryption-method = \"aes128-ctr\"\ndata-encryption-method = \"aes256-ctr\"\n",
			"data-encryption-method", []string{"line 3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.doc))
			wantConfigError(t, err, tc.setting)
			if err == nil {
				return
			}
			for _, s := range tc.more {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not match %v", err, tc.is)
			}
			if cfg.Method != 0 || cfg.MasterKey.isSet() {
				t.Errorf("got a config with the error: %+v", cfg)
			}
		})
	}
}

// Every problem is reported, not just the first.
func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig([]byte(`
[security.encryption]
data-encryption-method = "aes512-ctr"
data-key-rotation-period = "soon"
colour = "blue"
[security.encryption.master-key]
type = "file"
`))
	for _, s := range []string{"data-encryption-method", "data-key-rotation-period", "colour", "line 5"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %s", err, s)
		}
	}
	// The missing path is found once the values parse.
	_, err = ParseConfig([]byte("[security.encryption.master-key]\ntype = \"raw\"\n[security.encryption.previous-master-key]\ntype = \"file\"\n"))
	for _, s := range []string{"security.encryption.master-key.path", "security.encryption.previous-master-key.path"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %s", err, s)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Config{Method: keys.MethodAES128CTR, MasterKey: MasterKeyConfig{Type: "file", Path: "/k"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	held := keys.Plaintext()
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		setting string
		is      error
	}{
		{"zero method", func(c *Config) { c.Method = 0 }, "Method", nil},
		{"unknown method", func(c *Config) { c.Method = 9 }, "Method", keys.ErrUnknownMethod},
		{"negative period", func(c *Config) { c.RotationPeriod = -time.Hour }, "RotationPeriod", nil},
		{"negative threshold", func(c *Config) { c.DictionaryRewriteThreshold = -1 }, "DictionaryRewriteThreshold", nil},
		{"no master key", func(c *Config) { c.MasterKey = MasterKeyConfig{} }, "MasterKey", nil},
		{"path without type", func(c *Config) { c.MasterKey.Type = "" }, "MasterKey.Type", nil},
		{"unknown type", func(c *Config) { c.MasterKey.Type = "hsm" }, "MasterKey.Type", nil},
		{"file without path", func(c *Config) { c.MasterKey.Path = "" }, "MasterKey.Path", nil},
		{"kms without key id", func(c *Config) { c.MasterKey = MasterKeyConfig{Type: "kms"} }, "MasterKey.KMS.KeyID", nil},
		{"kms settings for a file", func(c *Config) { c.MasterKey.KMS.Region = "us-west-2" }, "MasterKey.KMS.Region", nil},
		{"negative KMS timeout", func(c *Config) {
			c.MasterKey = MasterKeyConfig{Type: "kms", KMS: keys.KMSConfig{KeyID: "k", Timeout: -1}}
		}, "MasterKey.KMS.Timeout", nil},
		{"previous path without type", func(c *Config) { c.PreviousMasterKey.Path = "/old" }, "PreviousMasterKey.Type", nil},
		{"previous raw without path", func(c *Config) { c.PreviousMasterKey.Type = "raw" }, "PreviousMasterKey.Path", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			wantConfigError(t, err, tc.setting)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not match %v", err, tc.is)
			}
		})
	}

	// A caller-held key needs no type.
	c := Config{Method: keys.MethodSM4CTR, MasterKey: MasterKeyConfig{Key: held}, PreviousMasterKey: MasterKeyConfig{Key: held}}
	if err := c.Validate(); err != nil {
		t.Errorf("caller-held keys: %v", err)
	}

	// Every problem, each a *ConfigError.
	err := Config{RotationPeriod: -1}.Validate()
	for _, s := range []string{"Method", "RotationPeriod", "MasterKey"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %s", err, s)
		}
	}
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if errors.As(e, &ce) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d *ConfigErrors, want 3: %v", n, err)
	}
}

// Validate names the settings as they were written when the config came
// from text.
func TestValidateNamesParsedSettings(t *testing.T) {
	cfg, err := ParseConfig([]byte(tikvTOML))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RotationPeriod = -time.Hour
	cfg.PreviousMasterKey.KMS.KeyID = ""
	err = cfg.Validate()
	for _, s := range []string{"security.encryption.data-key-rotation-period", "security.encryption.previous-master-key.key-id"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name %s", err, s)
		}
	}

	key := cfgKeyFile(t, "k", cfgRandom(t, 64), 0o600)
	cfg, err = ParseCockroachSpec("path=/data,key=" + key + ",old-key=plain")
	if err != nil {
		t.Fatal(err)
	}
	cfg.RotationPeriod = -time.Hour
	cfg.MasterKey.Path = ""
	err = cfg.Validate()
	for _, s := range []string{"setting rotation-period", "setting key:"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name %s", err, s)
		}
	}
}

func TestParseCockroachSpec(t *testing.T) {
	store := t.TempDir()
	for size, method := range map[int]keys.Method{48: keys.MethodAES128CTR, 56: keys.MethodAES192CTR, 64: keys.MethodAES256CTR} {
		key := cfgKeyFile(t, "aes.key", cfgRandom(t, size), 0o600)
		cfg, err := ParseCockroachSpec("path=" + store + ",key=" + key + ",old-key=plain")
		if err != nil {
			t.Fatalf("%d-byte key: %v", size, err)
		}
		if cfg.Method != method {
			t.Errorf("%d-byte key: Method = %v, want %v", size, cfg.Method, method)
		}
		if cfg.MasterKey.Type != keys.KindRaw || cfg.MasterKey.Path != key {
			t.Errorf("%d-byte key: MasterKey = %+v", size, cfg.MasterKey)
		}
		if cfg.PreviousMasterKey.Type != keys.KindPlaintext {
			t.Errorf("old-key=plain: PreviousMasterKey = %+v", cfg.PreviousMasterKey)
		}
		if cfg.StorePath != store || cfg.RotationPeriod != 168*time.Hour {
			t.Errorf("StorePath %q, RotationPeriod %v; want %q, 168h", cfg.StorePath, cfg.RotationPeriod, store)
		}
	}

	// plain, an old key file, a rotation period, any case and order.
	old := cfgKeyFile(t, "old.key", cfgRandom(t, 48), 0o600)
	cfg, err := ParseCockroachSpec(" ROTATION-PERIOD=720h, old-key=" + old + ",key=plain,,Path=" + store + ",")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != keys.MethodPlaintext || cfg.MasterKey.Type != keys.KindPlaintext {
		t.Errorf("key=plain: Method %v, MasterKey %+v", cfg.Method, cfg.MasterKey)
	}
	if cfg.PreviousMasterKey.Type != keys.KindRaw || cfg.PreviousMasterKey.Path != old {
		t.Errorf("PreviousMasterKey = %+v, want raw %s", cfg.PreviousMasterKey, old)
	}
	if cfg.RotationPeriod != 720*time.Hour {
		t.Errorf("RotationPeriod = %v, want 720h", cfg.RotationPeriod)
	}

	// Relative paths are made absolute, as CockroachDB does; "*" stays.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rel.key"), cfgRandom(t, 56), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg, err = ParseCockroachSpec("path=*,key=rel.key,old-key=rel.key")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "rel.key"); cfg.MasterKey.Path != want || cfg.PreviousMasterKey.Path != want {
		t.Errorf("key paths %q, %q; want %q", cfg.MasterKey.Path, cfg.PreviousMasterKey.Path, want)
	}
	if cfg.StorePath != "*" || cfg.Method != keys.MethodAES192CTR {
		t.Errorf("StorePath %q, Method %v; want *, aes192-ctr", cfg.StorePath, cfg.Method)
	}
}

func TestParseCockroachSpecErrors(t *testing.T) {
	store := t.TempDir()
	key := cfgKeyFile(t, "good.key", cfgRandom(t, 64), 0o600)
	ok := "path=" + store + ",key=" + key + ",old-key=plain"
	missing := filepath.Join(t.TempDir(), "missing.key")
	for _, tc := range []struct {
		name    string
		spec    string
		setting string
		more    []string
		is      error
	}{
		{"unknown field", ok + ",cipher=aes", "cipher", []string{"unknown field"}, nil},
		{"duplicate field", ok + ",key=" + key, "key", []string{"more than once"}, nil},
		{"duplicate in another case", ok + ",PATH=/x", "path", []string{"more than once"}, nil},
		{"empty key", "path=" + store + ",key=,old-key=plain", "key", []string{"no value"}, nil},
		{"empty path", "path=,key=" + key + ",old-key=plain", "path", []string{"no value"}, nil},
		{"empty period", ok + ",rotation-period=", "rotation-period", []string{"no value"}, nil},
		{"no equals", ok + ",plain", "enterprise-encryption", []string{"field=value"}, nil},
		{"no field name", ok + ",=x", "enterprise-encryption", nil, nil},
		{"no path", "key=" + key + ",old-key=plain", "path", []string{"required"}, nil},
		{"no key", "path=" + store + ",old-key=plain", "key", []string{"required"}, nil},
		{"no old-key", "path=" + store + ",key=" + key, "old-key", []string{"required"}, nil},
		{"TiKV duration", ok + ",rotation-period=7d", "rotation-period", []string{"7d"}, nil},
		{"zero period", ok + ",rotation-period=0s", "rotation-period", []string{"positive"}, nil},
		{"negative period", ok + ",rotation-period=-1h", "rotation-period", []string{"positive"}, nil},
		{"missing key file", "path=" + store + ",key=" + missing + ",old-key=plain", "key", []string{missing}, fs.ErrNotExist},
		{"key is a directory", "path=" + store + ",key=" + store + ",old-key=plain", "key", []string{"regular"}, keys.ErrInvalidKeyFile},
		{"PLAIN is not plain", "path=" + store + ",key=PLAIN,old-key=plain", "key", nil, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseCockroachSpec(tc.spec)
			wantConfigError(t, err, tc.setting)
			if err == nil {
				return
			}
			for _, s := range tc.more {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not match %v", err, tc.is)
			}
			if cfg.Method != 0 || cfg.MasterKey.isSet() {
				t.Errorf("got a config with the error: %+v", cfg)
			}
		})
	}

	// Every field is named when the spec is empty.
	_, err := ParseCockroachSpec("")
	for _, s := range []string{"setting path", "setting key", "setting old-key"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("empty spec: error %v does not name %s", err, s)
		}
	}
}

// The key file's size picks the method; any other size is refused, naming
// the file and its size.
func TestParseCockroachSpecKeySizes(t *testing.T) {
	for _, size := range []int{0, 16, 32, 47, 49, 57, 63, 65, 96} {
		key := cfgKeyFile(t, "bad.key", cfgRandom(t, size), 0o600)
		_, err := ParseCockroachSpec("path=/data,key=" + key + ",old-key=plain")
		ce := wantConfigError(t, err, "key")
		if err == nil {
			continue
		}
		if ce.Setting != "key" {
			t.Errorf("%d bytes: Setting = %q, want key", size, ce.Setting)
		}
		if msg := err.Error(); !strings.Contains(msg, key) || !strings.Contains(msg, fmt.Sprintf("%d bytes", size)) {
			t.Errorf("%d bytes: error %q does not name the file and its size", size, msg)
		}
		if !errors.Is(err, keys.ErrInvalidKeyFile) {
			t.Errorf("%d bytes: error %q does not match keys.ErrInvalidKeyFile", size, err)
		}
	}
}
