package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/tde-go/tde/keys"
)

// TiKV's [security.encryption] table, as TiKV's EncryptionConfig
// (components/encryption/src/config.rs) spells it. Pointers tell a setting
// left out from one given its zero value.
type tikvEncryption struct {
	Method           *string        `toml:"data-encryption-method"`
	RotationPeriod   *string        `toml:"data-key-rotation-period"`
	DictionaryLog    *bool          `toml:"enable-file-dictionary-log"`
	RewriteThreshold *int64         `toml:"file-dictionary-rewrite-threshold"`
	MasterKey        *tikvMasterKey `toml:"master-key"`
	Previous         *tikvMasterKey `toml:"previous-master-key"`
}

type tikvMasterKey struct {
	Type     *string `toml:"type"`
	Path     string  `toml:"path"`
	KeyID    string  `toml:"key-id"`
	Region   string  `toml:"region"`
	Endpoint string  `toml:"endpoint"`
	Vendor   string  `toml:"vendor"`
	// AllowInsecureEndpoint is tde's own: TiKV has no such key.
	AllowInsecureEndpoint bool `toml:"allow-insecure-endpoint"`
}

// tikvDocument is the little of a whole tikv.toml that ParseTiKVConfig reads.
type tikvDocument struct {
	Security tikvSecurity `toml:"security"`
}

type tikvSecurity struct {
	Encryption *tikvEncryption `toml:"encryption"`
}

// tikvTable is where a tikv.toml holds the encryption settings.
const tikvTable = "security.encryption"

// Keys of TiKV's encryption table and of its master-key tables; their
// presence at the top level marks a document that is just the table.
var (
	tikvEncryptionKeys = []string{"data-encryption-method", "data-key-rotation-period",
		"enable-file-dictionary-log", "file-dictionary-rewrite-threshold", "master-key", "previous-master-key"}
	tikvMasterKeyKeys = []string{"type", "path", "key-id", "region", "endpoint", "vendor", "allow-insecure-endpoint"}
)

// ParseTiKVConfig reads TiKV's encryption settings: either a whole tikv.toml,
// whose [security.encryption] table holds them (every other table is
// ignored), or a document holding just that table's content at the top
// level, recognized by its keys:
//
//	[security.encryption]
//	data-encryption-method = "aes256-ctr"  # plaintext (default), aes128-ctr, aes192-ctr, aes256-ctr, sm4-ctr
//	data-key-rotation-period = "7d"        # TiKV's durations: d, h, m, s, ms
//	[security.encryption.master-key]
//	type = "file"                          # file, kms, plaintext; tde also takes "raw" (a CockroachDB key file)
//	path = "/path/to/key"
//	[security.encryption.previous-master-key]
//	type = "kms"
//	key-id = "alias/tde"
//	region = "us-west-2"
//	endpoint = "https://kms.us-west-2.amazonaws.com"
//	# allow-insecure-endpoint = true       # tde's own: accept an http:// endpoint (registry key in clear)
//
// Defaults are TiKV's: method plaintext, a 7-day rotation period, and a
// plaintext master key and previous master key when their tables are
// absent (so a store that ran unencrypted can turn encryption on without
// naming a previous key). Unknown keys in the encryption tables, values of
// the wrong type and values tde cannot use are errors (*ConfigError,
// matching ErrInvalidConfig) naming the key and, where known, its line.
func ParseTiKVConfig(tikvTOML []byte) (Config, error) {
	// A first, lenient pass tells the two document shapes apart and
	// reports syntax errors.
	var doc map[string]any
	if err := toml.Unmarshal(tikvTOML, &doc); err != nil {
		return Config{}, tomlError(err)
	}
	_, hasSecurity := doc["security"]
	topLevel := false
	for _, k := range tikvEncryptionKeys {
		if _, ok := doc[k]; ok {
			topLevel = true
		}
	}

	var (
		enc      *tikvEncryption
		prefix   string
		errs     []error
		complete bool
	)
	if topLevel && !hasSecurity {
		enc = new(tikvEncryption)
		errs, complete = decodeStrict(tikvTOML, enc, func(toml.Key) (bool, string) { return true, "" })
	} else {
		// A tikv.toml: settings outside the encryption tables are not
		// ours, except those that look like misplaced encryption
		// settings, which would otherwise leave a store unencrypted
		// without a word.
		var whole tikvDocument
		errs, complete = decodeStrict(tikvTOML, &whole, func(key toml.Key) (bool, string) {
			switch {
			case len(key) > 2 && key[0] == "security" && key[1] == "encryption":
				return true, ""
			case len(key) == 1 && looksLikeEncryption(key[0]),
				len(key) == 2 && key[0] == "security" && looksLikeEncryption(key[1]):
				return true, "encryption settings belong in [" + tikvTable + "]"
			}
			return false, ""
		})
		enc = whole.Security.Encryption
		prefix = tikvTable + "."
	}
	if !complete {
		return Config{}, joinErrors(errs)
	}
	// With only unknown keys to report, the known ones were decoded:
	// report their problems too, all at once.
	if enc == nil {
		enc = new(tikvEncryption)
	}

	name := func(key string) string { return prefix + key }
	cfg := Config{
		Method:         keys.MethodPlaintext,
		RotationPeriod: 7 * 24 * time.Hour,
		spelled: map[string]string{
			"Method":                     name("data-encryption-method"),
			"RotationPeriod":             name("data-key-rotation-period"),
			"DictionaryRewriteThreshold": name("file-dictionary-rewrite-threshold"),
		},
	}
	if enc.Method != nil {
		m, err := keys.ParseMethod(*enc.Method)
		if err != nil {
			errs = append(errs, &ConfigError{Setting: name("data-encryption-method"), Value: *enc.Method, Reason: methodNames, Err: keys.ErrUnknownMethod})
		}
		cfg.Method = m
	}
	if enc.RotationPeriod != nil {
		d, err := parseTiKVDuration(*enc.RotationPeriod)
		if err != nil {
			errs = append(errs, &ConfigError{Setting: name("data-key-rotation-period"), Value: *enc.RotationPeriod, Reason: err.Error()})
		}
		cfg.RotationPeriod = d
	}
	// enable-file-dictionary-log is accepted and has no effect: tde's
	// dictionary is always a log.
	if t := enc.RewriteThreshold; t != nil {
		if *t < 1 || *t > math.MaxInt32 {
			errs = append(errs, &ConfigError{Setting: name("file-dictionary-rewrite-threshold"), Value: strconv.FormatInt(*t, 10),
				Reason: "expected a number of records from 1 to 2147483647 (leave it out for the default)"})
		} else {
			cfg.DictionaryRewriteThreshold = int(*t)
		}
	}
	var mkErrs []error
	cfg.MasterKey, mkErrs = enc.MasterKey.config(name("master-key"))
	errs = append(errs, mkErrs...)
	cfg.PreviousMasterKey, mkErrs = enc.Previous.config(name("previous-master-key"))
	errs = append(errs, mkErrs...)
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseConfig is ParseTiKVConfig: it reads only TiKV's settings, which its
// name did not say beside ParseCockroachSpec.
//
// Deprecated: use ParseTiKVConfig.
func ParseConfig(tikvTOML []byte) (Config, error) {
	return ParseTiKVConfig(tikvTOML)
}

// config converts a master-key table; table is its name as the user
// wrote it. An absent table is TiKV's default, a plaintext key.
func (t *tikvMasterKey) config(table string) (MasterKeyConfig, []error) {
	c := MasterKeyConfig{
		Type: keys.KindPlaintext,
		spelled: map[string]string{
			"":                          table,
			"Type":                      table + ".type",
			"Path":                      table + ".path",
			"KMS":                       table,
			"KMS.KeyID":                 table + ".key-id",
			"KMS.Region":                table + ".region",
			"KMS.Endpoint":              table + ".endpoint",
			"KMS.AllowInsecureEndpoint": table + ".allow-insecure-endpoint",
		},
	}
	if t == nil {
		return c, nil
	}
	var errs []error
	if t.Type == nil || *t.Type == "" {
		errs = append(errs, &ConfigError{Setting: table + ".type", Reason: `required: "file", "kms" or "plaintext"`})
		c.Type = ""
	} else {
		c.Type = strings.ToLower(*t.Type)
	}
	c.Path = t.Path
	c.KMS = keys.KMSConfig{KeyID: t.KeyID, Region: t.Region, Endpoint: t.Endpoint, AllowInsecureEndpoint: t.AllowInsecureEndpoint}
	switch {
	case t.Vendor == "" || strings.EqualFold(t.Vendor, "aws"):
		if t.Vendor != "" && c.Type != keys.KindKMS {
			errs = append(errs, &ConfigError{Setting: table + ".vendor", Value: t.Vendor, Reason: `only for type "kms"`})
		}
	default:
		errs = append(errs, &ConfigError{Setting: table + ".vendor", Value: t.Vendor,
			Reason: `tde supports only the AWS KMS API (vendor "aws" or unset), which any compatible endpoint can serve; GCP and Azure KMS are not supported`})
	}
	return c, errs
}

// looksLikeEncryption reports whether a key outside the encryption table
// looks like an encryption setting put in the wrong place or misspelled.
func looksLikeEncryption(key string) bool {
	k := normalizeKey(key)
	return strings.Contains(k, "encrypt") || slices.Contains(tikvEncryptionKeys, k)
}

// normalizeKey spells a key as TiKV would: lower case, kebab-case.
func normalizeKey(key string) string {
	return strings.ReplaceAll(strings.ToLower(key), "_", "-")
}

// decodeStrict decodes doc into v, reporting unknown keys for which report
// says so, each with a hint if report gives one. complete says whether the
// rest of the document was decoded: it is false after a type error.
func decodeStrict(doc []byte, v any, report func(toml.Key) (bool, string)) (errs []error, complete bool) {
	err := toml.NewDecoder(bytes.NewReader(doc)).DisallowUnknownFields().Decode(v)
	if err == nil {
		return nil, true
	}
	var strict *toml.StrictMissingError
	if !errors.As(err, &strict) {
		return []error{tomlError(err)}, false
	}
	for i := range strict.Errors {
		e := &strict.Errors[i]
		key := e.Key()
		ok, hint := report(key)
		if !ok {
			continue
		}
		line, _ := e.Position()
		last := key[len(key)-1]
		reason := fmt.Sprintf("line %d: unknown setting", line)
		parent := ""
		if len(key) > 1 {
			parent = key[len(key)-2]
		}
		switch {
		case (parent == "master-key" || parent == "previous-master-key") && (last == "gcp" || last == "azure"):
			vendor := map[string]string{"gcp": "GCP", "azure": "Azure"}[last]
			reason = fmt.Sprintf("line %d: tde supports only the AWS KMS API (vendor \"aws\"); %s KMS is not supported", line, vendor)
		case hint != "":
			reason += "; " + hint
		}
		if s := suggest(last, parent); s != "" {
			reason += fmt.Sprintf("; did you mean %q?", s)
		}
		errs = append(errs, &ConfigError{Setting: strings.Join(key, "."), Reason: reason})
	}
	return errs, true
}

// suggest returns the TiKV key that key is probably a misspelling of
// (wrong case, underscores), or "".
func suggest(key, parent string) string {
	k := normalizeKey(key)
	if k == key {
		return ""
	}
	known := tikvEncryptionKeys
	if parent == "master-key" || parent == "previous-master-key" {
		known = tikvMasterKeyKeys
	}
	if slices.Contains(known, k) || k == "encryption" {
		return k
	}
	return ""
}

// typeMismatch matches go-toml's message for a value of the wrong type.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (.+) into struct field ([A-Za-z0-9_.]+)\.([A-Za-z0-9_]+) of type (\S+)$`)

// tomlType returns the raw type ParseTiKVConfig decodes into that go-toml names
// in a type error, to find the field's TOML name.
func tomlType(name string) (reflect.Type, bool) {
	for _, v := range []any{tikvEncryption{}, tikvMasterKey{}, tikvDocument{}, tikvSecurity{}} {
		if t := reflect.TypeOf(v); t.String() == name {
			return t, true
		}
	}
	return nil, false
}

// tomlError turns a go-toml error into a *ConfigError that names the key
// and line, in TOML's terms rather than Go's where it can.
func tomlError(err error) error {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return &ConfigError{Setting: "TOML", Reason: "cannot decode", Err: err}
	}
	line, col := de.Position()
	setting := strings.Join(de.Key(), ".")
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if m := typeMismatch.FindStringSubmatch(msg); m != nil {
		if t, ok := tomlType(m[2]); ok {
			if f, ok := t.FieldByName(m[3]); ok {
				tag := f.Tag.Get("toml")
				if k := de.Key(); len(k) == 0 || k[len(k)-1] != tag {
					setting = strings.Join(append(k[:len(k):len(k)], tag), ".")
				}
				return &ConfigError{Setting: setting, Reason: fmt.Sprintf("line %d: expected %s, got %s", line, tomlKind(m[4]), article(m[1]))}
			}
		}
	}
	if setting == "" {
		return &ConfigError{Setting: "TOML", Reason: fmt.Sprintf("syntax error at line %d, column %d", line, col), Err: err}
	}
	return &ConfigError{Setting: setting, Reason: fmt.Sprintf("line %d, column %d", line, col), Err: err}
}

// tomlKind describes a Go field type as a TOML value.
func tomlKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int64":
		return "an integer"
	}
	return "a table"
}

// article prefixes a TOML kind ("integer") with its article.
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// parseTiKVDuration parses TiKV's ReadableDuration: numbers, each followed
// by a unit of d, h, m, s or ms, largest unit first ("7d", "1h30m",
// "1.5h", "500ms"). As in TiKV, the result is truncated to milliseconds.
// Unlike TiKV, zero is refused: a key rotated continuously is a mistake,
// and leaving the setting out gives the default.
func parseTiKVDuration(s string) (time.Duration, error) {
	const expected = "expected a duration such as 7d, 168h, 1h30m or 500ms (units d, h, m, s, ms, largest first)"
	units := []struct {
		suffix string
		ms     float64
	}{{"d", 24 * 3600e3}, {"h", 3600e3}, {"ms", 1}, {"m", 60e3}, {"s", 1e3}}
	rank := map[string]int{"d": 5, "h": 4, "m": 3, "s": 2, "ms": 1}

	left := strings.TrimSpace(s)
	if left == "" {
		return 0, errors.New(expected)
	}
	var total float64
	last := 6
	for left != "" {
		i := strings.IndexAny(left, "dhms")
		if i < 0 {
			return 0, errors.New(expected)
		}
		num, rest := strings.TrimSpace(left[:i]), left[i:]
		var unit string
		var ms float64
		for _, u := range units {
			if strings.HasPrefix(rest, u.suffix) {
				unit, ms = u.suffix, u.ms
				break
			}
		}
		if unit == "" || !isDecimal(num) {
			return 0, errors.New(expected)
		}
		if rank[unit] >= last {
			return 0, errors.New("units must come largest first, each at most once (d, h, m, s, ms)")
		}
		last = rank[unit]
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, errors.New(expected)
		}
		total += n * ms
		left = strings.TrimSpace(rest[len(unit):])
	}
	if total >= float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, errors.New("too long")
	}
	d := time.Duration(total) * time.Millisecond
	if d <= 0 {
		return 0, errors.New("must be positive (leave the setting out for the default, 7d)")
	}
	return d, nil
}

// isDecimal reports whether s is an unsigned decimal number: digits with
// at most one point.
func isDecimal(s string) bool {
	digits, points := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}
