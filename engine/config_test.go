package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/tde-go/tde/keys"
)

func TestParseConfigMethods(t *testing.T) {
	for _, m := range keys.Methods() {
		for _, spelling := range []string{m.String(), strings.ToUpper(m.String())} {
			cfg, err := ParseTiKVConfig(fmt.Appendf(nil, "[security.encryption]\ndata-encryption-method = %q\n", spelling))
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

// TestConfigDialects runs the cases of testdata/config, one file a
// dialect. Each case reads a TiKV TOML document (parse-tikv), a
// CockroachDB spec (parse-cockroach) or a master-key spec (parse-keyspec,
// as tdectl's --new) and prints what it read, or every error, each with
// what it matches. The other commands:
//
//	write-key name=N size=S   write S random bytes to $TMP/N
//	mkdir name=N              make the directory $TMP/N, mode 0700
//	chdir                     make $TMP the working directory
//	validate Field=V …        set Go fields of the last Config read, print Validate's errors
//
// $TMP is the file's own temporary directory and $CWD the working
// directory, in the input and in the output.
func TestConfigDialects(t *testing.T) {
	datadriven.Walk(t, "testdata/config", func(t *testing.T, path string) {
		tmp := t.TempDir()
		var last Config
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			cwd, err := os.Getwd()
			if err != nil {
				t.Fatal(err)
			}
			in := strings.NewReplacer("$TMP", tmp, "$CWD", cwd).Replace(d.Input)
			var out string
			switch d.Cmd {
			case "parse-tikv":
				var err error
				last, err = ParseTiKVConfig([]byte(in + "\n"))
				out = printParsed(last, err)
			case "parse-cockroach":
				var err error
				last, err = ParseCockroachSpec(in)
				out = printParsed(last, err)
			case "parse-keyspec":
				mk, err := ParseMasterKeySpec("--new", in)
				if err != nil {
					out = printErrors(err)
					if !reflect.ValueOf(mk).IsZero() {
						out += "and a key: " + printMasterKey(mk) + "\n"
					}
				} else {
					out = printMasterKey(mk) + "\n"
				}
			case "write-key":
				var name string
				var size int
				d.ScanArgs(t, "name", &name)
				d.ScanArgs(t, "size", &size)
				if err := os.WriteFile(filepath.Join(tmp, name), cfgRandom(t, size), 0o600); err != nil {
					t.Fatal(err)
				}
			case "mkdir":
				var name string
				d.ScanArgs(t, "name", &name)
				// Chmod too: Mkdir's mode is filtered by the umask.
				if err := os.Mkdir(filepath.Join(tmp, name), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(tmp, name), 0o700); err != nil {
					t.Fatal(err)
				}
			case "chdir":
				t.Chdir(tmp)
			case "validate":
				c := last
				for _, arg := range d.CmdArgs {
					v := arg.SingleVal(t)
					switch arg.Key {
					case "RotationPeriod":
						p, err := time.ParseDuration(v)
						if err != nil {
							d.Fatalf(t, "%s: %v", arg.Key, err)
						}
						c.RotationPeriod = p
					case "MasterKey.Path":
						c.MasterKey.Path = v
					case "PreviousMasterKey.KMS.KeyID":
						c.PreviousMasterKey.KMS.KeyID = v
					default:
						d.Fatalf(t, "validate: no field %s here", arg.Key)
					}
				}
				out = "ok\n"
				if err := c.Validate(); err != nil {
					out = printErrors(err)
				}
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			return strings.NewReplacer(tmp, "$TMP", cwd, "$CWD").Replace(out)
		})
	})
}

// printParsed prints a parser's Config, one setting a line (those that
// are unset, left out), or its errors and, should it return one with
// them, the Config.
func printParsed(cfg Config, err error) string {
	if err != nil {
		out := printErrors(err)
		if !reflect.ValueOf(cfg).IsZero() {
			out += "and a config:\n" + printParsed(cfg, nil)
		}
		return out
	}
	var b strings.Builder
	fmt.Fprintf(&b, "method: %v\n", cfg.Method)
	fmt.Fprintf(&b, "rotation-period: %v\n", cfg.RotationPeriod)
	if cfg.DictionaryRewriteThreshold != 0 {
		fmt.Fprintf(&b, "dictionary-rewrite-threshold: %d\n", cfg.DictionaryRewriteThreshold)
	}
	if cfg.StorePath != "" {
		fmt.Fprintf(&b, "store-path: %s\n", cfg.StorePath)
	}
	fmt.Fprintf(&b, "master-key: %s\n", printMasterKey(cfg.MasterKey))
	fmt.Fprintf(&b, "previous-master-key: %s\n", printMasterKey(cfg.PreviousMasterKey))
	// No parser sets the rest.
	rest := cfg
	rest.Method, rest.RotationPeriod, rest.DictionaryRewriteThreshold, rest.StorePath = 0, 0, 0, ""
	rest.MasterKey, rest.PreviousMasterKey, rest.spelled = MasterKeyConfig{}, MasterKeyConfig{}, nil
	if !reflect.ValueOf(rest).IsZero() {
		fmt.Fprintf(&b, "and more: %+v\n", rest)
	}
	return b.String()
}

// printMasterKey prints a master key's type ("" if none) and the
// settings it has.
func printMasterKey(mk MasterKeyConfig) string {
	s := mk.Type
	if s == "" {
		s = `""`
	}
	for _, f := range []struct{ name, value string }{
		{"path", mk.Path}, {"key-id", mk.KMS.KeyID}, {"region", mk.KMS.Region}, {"endpoint", mk.KMS.Endpoint},
	} {
		if f.value != "" {
			s += " " + f.name + "=" + f.value
		}
	}
	if mk.KMS.AllowInsecureEndpoint {
		s += " allow-insecure-endpoint=true"
	}
	rest := mk.KMS
	rest.KeyID, rest.Region, rest.Endpoint, rest.AllowInsecureEndpoint = "", "", "", false
	if rest != (keys.KMSConfig{}) {
		s += fmt.Sprintf(" kms=%+v", rest)
	}
	if mk.Key != nil {
		s += " key=(held)"
	}
	return s
}

// configSentinels are the errors a configuration error may match.
var configSentinels = []struct {
	name string
	err  error
}{
	{"ErrInvalidConfig", ErrInvalidConfig},
	{"keys.ErrUnknownMethod", keys.ErrUnknownMethod},
	{"keys.ErrInvalidKeyFile", keys.ErrInvalidKeyFile},
	{"keys.ErrInsecureEndpoint", keys.ErrInsecureEndpoint},
	{"fs.ErrNotExist", fs.ErrNotExist},
}

// printErrors prints each error err joins on a line of its own, then
// whether it is a *ConfigError and which configSentinels it matches.
func printErrors(err error) string {
	var b strings.Builder
	var each func(error)
	each = func(err error) {
		switch err.(type) {
		case *ConfigError, *keySpecError:
		default:
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					each(e)
				}
				return
			}
		}
		var is []string
		if _, ok := err.(*ConfigError); ok {
			is = append(is, "*ConfigError")
		}
		for _, s := range configSentinels {
			if errors.Is(err, s.err) {
				is = append(is, s.name)
			}
		}
		fmt.Fprintf(&b, "error: %v\n  is %s\n", err, strings.Join(is, ", "))
	}
	each(err)
	return b.String()
}
