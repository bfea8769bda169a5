package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/tde-go/tde/keys"
)

// TestKMSPlainHTTPRefused: an http:// KMS endpoint is a *ConfigError naming
// the endpoint's setting, the endpoint and the setting that allows it, in
// each spelling (TiKV TOML, master and previous key; Go); with the setting
// it is accepted. The CockroachDB spec has no KMS form.
func TestKMSPlainHTTPRefused(t *testing.T) {
	const ep = "http://kms.internal:4566"
	for _, table := range []string{"master-key", "previous-master-key"} {
		doc := `
[security.encryption]
data-encryption-method = "aes256-ctr"
[security.encryption.master-key]
type = "plaintext"
[security.encryption.` + table + `]
type = "kms"
key-id = "alias/tde"
region = "us-east-1"
endpoint = "` + ep + `"
`
		if table == "master-key" {
			doc = strings.Replace(doc, "[security.encryption.master-key]\ntype = \"plaintext\"\n", "", 1)
		}
		_, err := ParseConfig([]byte(doc))
		setting := "security.encryption." + table + ".endpoint"
		wantConfigError(t, err, setting)
		if err != nil && (!errors.Is(err, keys.ErrInsecureEndpoint) || !strings.Contains(err.Error(), ep) ||
			!strings.Contains(err.Error(), "security.encryption."+table+".allow-insecure-endpoint")) {
			t.Errorf("%s: %v, want ErrInsecureEndpoint naming %s and allow-insecure-endpoint", table, err, ep)
		}
		cfg, err := ParseConfig([]byte(doc + "allow-insecure-endpoint = true\n"))
		if err != nil {
			t.Fatalf("%s with allow-insecure-endpoint: %v", table, err)
		}
		mk := cfg.MasterKey
		if table != "master-key" {
			mk = cfg.PreviousMasterKey
		}
		if !mk.KMS.AllowInsecureEndpoint || mk.KMS.Endpoint != ep {
			t.Errorf("%s: KMS = %+v, want the endpoint allowed", table, mk.KMS)
		}
	}

	// A Config built in Go, and Open, which validates it first.
	cfg := testConfig(t, keys.MethodAES128CTR)
	cfg.MasterKey = MasterKeyConfig{Type: keys.KindKMS, KMS: keys.KMSConfig{KeyID: "alias/tde", Region: "us-east-1", Endpoint: "HTTP://127.0.0.1:1"}}
	err := cfg.Validate()
	wantConfigError(t, err, "MasterKey.KMS.Endpoint")
	if !errors.Is(err, keys.ErrInsecureEndpoint) || !strings.Contains(err.Error(), "MasterKey.KMS.AllowInsecureEndpoint") {
		t.Errorf("Validate: %v, want ErrInsecureEndpoint naming MasterKey.KMS.AllowInsecureEndpoint", err)
	}
	dir := t.TempDir()
	if _, err := Open(nil, dir, cfg); !errors.Is(err, keys.ErrInsecureEndpoint) {
		t.Errorf("Open: %v, want ErrInsecureEndpoint", err)
	}
	cfg.MasterKey.KMS.AllowInsecureEndpoint = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with AllowInsecureEndpoint: %v", err)
	}
	cfg.MasterKey.KMS = keys.KMSConfig{KeyID: "alias/tde", Endpoint: "https://kms.internal"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate of https: %v", err)
	}
	// The setting alone, on another type of key, is a mistake worth hearing.
	cfg.MasterKey = MasterKeyConfig{Type: keys.KindPlaintext, KMS: keys.KMSConfig{AllowInsecureEndpoint: true}}
	wantConfigError(t, cfg.Validate(), "MasterKey.KMS.AllowInsecureEndpoint")
}
