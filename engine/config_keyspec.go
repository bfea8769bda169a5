package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tde-go/tde/keys"
)

// masterKeySpecSyntax is what ParseMasterKeySpec takes, for its errors.
const masterKeySpecSyntax = "file:PATH (TiKV hex key file), raw:PATH (CockroachDB key file), kms:KEY-ID[,region=R][,endpoint=URL][,allow-insecure-endpoint=true] or plaintext"

// ParseMasterKeySpec reads a master key named in one word, as tdectl's
// --new and --old take it:
//
//	file:/etc/tde/master.key
//	raw:/keys/aes-256.key
//	kms:alias/tde,region=us-west-2,endpoint=https://kms.example.com
//	plaintext
//
// file is TiKV's hex key file and raw CockroachDB's; "plain" is taken for
// "plaintext", as in CockroachDB. Kinds and KMS setting names are
// case-insensitive. Key file paths are made absolute, and the files must
// exist; they are read, and checked, when the store opens. setting is how
// errors name where spec came from ("--new"); they match ErrInvalidConfig,
// and a key file's error (fs.ErrNotExist, say) if there is one.
func ParseMasterKeySpec(setting, spec string) (MasterKeyConfig, error) {
	bad := func(reason string) error {
		return &keySpecError{fmt.Errorf("%s %q: %s; expected %s", setting, spec, reason, masterKeySpecSyntax)}
	}
	kind, rest, ok := strings.Cut(spec, ":")
	kind = strings.ToLower(strings.TrimSpace(kind))
	if !ok {
		if kind == keys.KindPlaintext || kind == cockroachPlain {
			return MasterKeyConfig{Type: keys.KindPlaintext}, nil
		}
		if kind == "" {
			return MasterKeyConfig{}, bad("empty")
		}
		return MasterKeyConfig{}, bad("no kind")
	}
	switch kind {
	case keys.KindFile, keys.KindRaw:
		if rest == "" {
			return MasterKeyConfig{}, bad("no key file")
		}
		path, err := filepath.Abs(rest)
		if err != nil {
			return MasterKeyConfig{}, bad(err.Error())
		}
		fi, err := os.Stat(path)
		if err != nil {
			return MasterKeyConfig{}, &keySpecError{fmt.Errorf("%s: key file: %w", setting, err)}
		}
		if !fi.Mode().IsRegular() {
			return MasterKeyConfig{}, &keySpecError{fmt.Errorf("%s: key file %s is not a regular file", setting, path)}
		}
		return MasterKeyConfig{Type: kind, Path: path}, nil
	case keys.KindKMS:
		parts := strings.Split(rest, ",")
		k := keys.KMSConfig{KeyID: strings.TrimSpace(parts[0])}
		if k.KeyID == "" {
			return MasterKeyConfig{}, bad("no KMS key id")
		}
		seen := map[string]bool{}
		for _, p := range parts[1:] {
			name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			value = strings.TrimSpace(value)
			if !ok || value == "" {
				return MasterKeyConfig{}, bad(fmt.Sprintf("%q is not name=value", p))
			}
			if seen[name] {
				return MasterKeyConfig{}, bad(name + " given twice")
			}
			seen[name] = true
			switch name {
			case "region":
				k.Region = value
			case "endpoint":
				k.Endpoint = value
			case "allow-insecure-endpoint":
				allow, err := strconv.ParseBool(value)
				if err != nil {
					return MasterKeyConfig{}, bad(fmt.Sprintf("allow-insecure-endpoint=%q is not true or false", value))
				}
				k.AllowInsecureEndpoint = allow
			default:
				return MasterKeyConfig{}, bad(fmt.Sprintf("unknown KMS setting %q (region, endpoint, allow-insecure-endpoint)", name))
			}
		}
		return MasterKeyConfig{Type: keys.KindKMS, KMS: k}, nil
	}
	return MasterKeyConfig{}, bad(fmt.Sprintf("unknown kind %q", kind))
}

// keySpecError is a master-key spec that cannot be used. Its text is the
// one tdectl has always printed, so it is not a *ConfigError; like one, it
// matches ErrInvalidConfig.
type keySpecError struct{ err error }

func (e *keySpecError) Error() string { return e.err.Error() }

func (e *keySpecError) Unwrap() []error { return []error{ErrInvalidConfig, e.err} }
