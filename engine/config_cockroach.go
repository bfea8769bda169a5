package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tde-go/tde/keys"
)

// cockroachPlain is the key-file value CockroachDB takes for "no key".
const cockroachPlain = "plain"

// ParseCockroachSpec reads the value of CockroachDB's
// --enterprise-encryption flag:
//
//	path=/mnt/data1,key=/keys/aes-256.key,old-key=plain,rotation-period=168h
//
// path is the store directory (required; "*" as in CockroachDB); key is the
// current master key file, in CockroachDB's raw format, or "plain" for no
// encryption (required); old-key is the previous one, or "plain"
// (required, as in CockroachDB: naming it explicitly keeps a spec valid for
// both, and says what the store was last opened with); rotation-period is
// a Go duration (default 168h). Paths are made absolute, as CockroachDB
// does. As in CockroachDB, the size of the key file picks the method: 48
// bytes is aes128-ctr, 56 aes192-ctr and 64 aes256-ctr; "plain" is
// plaintext. Field names are case-insensitive and empty fields are skipped,
// as in CockroachDB; unknown and repeated fields and empty values are
// errors (*ConfigError, matching ErrInvalidConfig) naming the field.
func ParseCockroachSpec(spec string) (Config, error) {
	cfg := Config{
		RotationPeriod: keys.DefaultRotationPeriod,
		spelled: map[string]string{
			"Method":         "key",
			"RotationPeriod": "rotation-period",
			"StorePath":      "path",
		},
	}
	var errs []error
	values := make(map[string]string)
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		field, value, ok := strings.Cut(part, "=")
		field = strings.ToLower(strings.TrimSpace(field))
		value = strings.TrimSpace(value)
		switch _, seen := values[field]; {
		case !ok:
			errs = append(errs, &ConfigError{Setting: "enterprise-encryption", Value: part, Reason: "expected field=value"})
			continue
		case field == "":
			errs = append(errs, &ConfigError{Setting: "enterprise-encryption", Value: part, Reason: "a value with no field name"})
			continue
		case seen:
			errs = append(errs, &ConfigError{Setting: field, Reason: "given more than once"})
			continue
		}
		values[field] = value
		if value == "" {
			errs = append(errs, &ConfigError{Setting: field, Reason: "no value"})
			continue
		}
		switch field {
		case "path":
			cfg.StorePath = value
			if value != "*" {
				p, err := filepath.Abs(value)
				if err != nil {
					errs = append(errs, &ConfigError{Setting: field, Value: value, Reason: "cannot make the path absolute", Err: err})
				}
				cfg.StorePath = p
			}
		case "key", "old-key":
			mk, method, err := cockroachKey(field, value)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if field == "key" {
				cfg.MasterKey, cfg.Method = mk, method
			} else {
				cfg.PreviousMasterKey = mk
			}
		case "rotation-period":
			d, err := time.ParseDuration(value)
			switch {
			case err != nil:
				errs = append(errs, &ConfigError{Setting: field, Value: value, Reason: "expected a Go duration such as 168h or 720h"})
			case d <= 0:
				errs = append(errs, &ConfigError{Setting: field, Value: value, Reason: "must be positive (leave it out for the default, 168h)"})
			default:
				cfg.RotationPeriod = d
			}
		default:
			errs = append(errs, &ConfigError{Setting: field, Reason: "unknown field: expected path, key, old-key or rotation-period"})
		}
	}
	for _, r := range []struct{ field, reason string }{
		{"path", "required: the store directory"},
		{"key", `required: the key file, or "plain"`},
		{"old-key", `required (as in CockroachDB): the previous key file, or "plain"`},
	} {
		if _, ok := values[r.field]; !ok {
			errs = append(errs, &ConfigError{Setting: r.field, Reason: r.reason})
		}
	}
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// cockroachKey reads a key or old-key value: "plain", or a raw key file
// whose size gives the method.
func cockroachKey(field, value string) (MasterKeyConfig, keys.Method, error) {
	spelled := map[string]string{"": field, "Type": field, "Path": field, "KMS": field}
	if value == cockroachPlain {
		return MasterKeyConfig{Type: keys.KindPlaintext, spelled: spelled}, keys.MethodPlaintext, nil
	}
	path, err := filepath.Abs(value)
	if err != nil {
		return MasterKeyConfig{}, 0, &ConfigError{Setting: field, Value: value, Reason: "cannot make the path absolute", Err: err}
	}
	mk := MasterKeyConfig{Type: keys.KindRaw, Path: path, spelled: spelled}
	if field != "key" {
		// The old key's size says nothing about new files; Open reads it.
		return mk, 0, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return MasterKeyConfig{}, 0, &ConfigError{Setting: field, Reason: "cannot read the key file", Err: err}
	}
	if !st.Mode().IsRegular() {
		return MasterKeyConfig{}, 0, &ConfigError{Setting: field, Value: path,
			Reason: fmt.Sprintf("not a regular file (mode %v)", st.Mode()), Err: keys.ErrInvalidKeyFile}
	}
	var m keys.Method
	switch st.Size() {
	case 32 + 16:
		m = keys.MethodAES128CTR
	case 32 + 24:
		m = keys.MethodAES192CTR
	case 32 + 32:
		m = keys.MethodAES256CTR
	default:
		return MasterKeyConfig{}, 0, &ConfigError{Setting: field, Value: path,
			Reason: fmt.Sprintf("key file is %d bytes; expected 48, 56 or 64 (a 32-byte key id, then an AES-128, AES-192 or AES-256 key: openssl rand 48, 56 or 64)", st.Size()),
			Err:    keys.ErrInvalidKeyFile}
	}
	return mk, m, nil
}
