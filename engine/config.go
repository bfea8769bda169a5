package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tde-go/tde/keys"
)

// Config configures Open. It is a plain struct, so programs can build one
// without text; ParseConfig and ParseCockroachSpec build one from TiKV's
// and CockroachDB's settings.
type Config struct {
	// Method is the method new files are encrypted with. Required: the
	// zero Method is an error, so a forgotten setting never silently
	// means unencrypted data.
	Method keys.Method
	// RotationPeriod is how long a data key stays active; 0 means
	// keys.DefaultRotationPeriod (a week). Negative is an error.
	RotationPeriod time.Duration
	// MasterKey is the key the key registry is wrapped under. Required
	// (Type "plaintext" for none).
	MasterKey MasterKeyConfig
	// PreviousMasterKey is the key the registry may still be wrapped under
	// while the master key changes. Type "" and Key nil mean none.
	PreviousMasterKey MasterKeyConfig
	// StorePath is the store directory as the configuration named it
	// (CockroachDB's path=…). It is informational: Open's dir argument is
	// authoritative, and Open warns if they differ.
	StorePath string
	// AllowLooseKeyPermissions accepts key files that group or others can
	// read. Off by default: a key others can read protects nothing.
	AllowLooseKeyPermissions bool
	// DictionaryRewriteThreshold is TiKV's
	// file-dictionary-rewrite-threshold: how large the file dictionary log
	// may grow, in records, before it is compacted; 0 means the default.
	DictionaryRewriteThreshold int
	// KeepCoreDumps leaves the process dumpable and RLIMIT_CORE alone
	// while encryption is on. By default Open makes the process
	// non-dumpable (Linux: PR_SET_DUMPABLE 0, which also refuses ptrace
	// attach by non-root processes, debuggers and profilers included, and
	// makes /proc/<pid>/* root's) and lowers the soft RLIMIT_CORE to 0,
	// before it loads a master key; neither is undone at Close. Key bytes
	// are kept out of core dumps and swap either way (MADV_DONTDUMP, mlock)
	// where the OS allows.
	KeepCoreDumps bool
	// Metrics receives the engine's Prometheus metrics; nil means none.
	Metrics prometheus.Registerer
	// Logger receives rotations and warnings; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock data-key rotation runs on; nil means time.Now.
	Now func() time.Time
	// ReadOnly opens the store to inspect it: nothing on disk changes (no
	// rotation, no rewrite of the dictionary, no file created), and writes
	// fail with ErrReadOnly. See readonly.go.
	ReadOnly bool

	// rotationCheck is how often the FS checks the active data key's age;
	// 0 derives it from RotationPeriod. Tests shorten it.
	rotationCheck time.Duration

	// spelled maps a Go field name to the setting it was read from, so a
	// problem found later (by Validate, or by Open) names what the user
	// wrote. Nil for a config built in Go.
	spelled map[string]string
}

// setting names a top-level field of c as the user spelled it.
func (c Config) setting(field string) string {
	if s, ok := c.spelled[field]; ok {
		return s
	}
	return field
}

// Validate reports every problem with c, each as a *ConfigError naming the
// setting: the TOML key or spec field if c was parsed from text, else the
// Go field. It checks what can be checked without touching the disk or a
// KMS: key files are read, and found wanting, only by Open.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Method == 0:
		errs = append(errs, &ConfigError{Setting: c.setting("Method"), Reason: "required: " + methodNames})
	case !slices.Contains(keys.Methods(), c.Method):
		errs = append(errs, &ConfigError{Setting: c.setting("Method"), Value: c.Method.String(), Reason: methodNames, Err: keys.ErrUnknownMethod})
	}
	if c.RotationPeriod < 0 {
		errs = append(errs, &ConfigError{Setting: c.setting("RotationPeriod"), Value: c.RotationPeriod.String(),
			Reason: "must not be negative (0 means the default, " + keys.DefaultRotationPeriod.String() + ")"})
	}
	if c.DictionaryRewriteThreshold < 0 {
		errs = append(errs, &ConfigError{Setting: c.setting("DictionaryRewriteThreshold"), Value: strconv.Itoa(c.DictionaryRewriteThreshold),
			Reason: "must not be negative (0 means the default)"})
	}
	errs = append(errs, c.fipsSetting()...) // fips.go
	errs = append(errs, c.MasterKey.validate("MasterKey", true)...)
	errs = append(errs, c.PreviousMasterKey.validate("PreviousMasterKey", false)...)
	return joinErrors(errs)
}

// methodNames is what a method may be.
const methodNames = "expected plaintext, aes128-ctr, aes192-ctr, aes256-ctr or sm4-ctr"

// validate reports the problems of a master key whose Go field name is
// prefix. Fields that do not belong to the key's type are errors rather
// than ignored: a path next to type "kms" is a mistake worth hearing about.
func (c MasterKeyConfig) validate(prefix string, required bool) []error {
	if c.Key != nil {
		return nil
	}
	name := func(field string) string { return c.setting(prefix, field) }
	var errs []error
	if c.Path != "" && c.Type != keys.KindFile && c.Type != keys.KindRaw && c.Type != "" {
		errs = append(errs, &ConfigError{Setting: name("Path"), Value: c.Path, Reason: `only for type "file" or "raw"`})
	}
	if f := kmsField(c.KMS); f != "" && c.Type != keys.KindKMS && c.Type != "" {
		errs = append(errs, &ConfigError{Setting: name(f), Reason: `only for type "kms"`})
	}
	switch c.Type {
	case "":
		if c.Path != "" || kmsField(c.KMS) != "" {
			errs = append(errs, &ConfigError{Setting: name("Type"), Reason: "not set, but the key's other settings are: " + masterKeyTypes})
		} else if required {
			errs = append(errs, &ConfigError{Setting: name(""), Reason: `required: a master key (type "plaintext" for none)`})
		}
	case keys.KindFile, keys.KindRaw:
		if c.Path == "" {
			errs = append(errs, &ConfigError{Setting: name("Path"), Reason: fmt.Sprintf("required for type %q: the key file", c.Type)})
		}
	case keys.KindKMS:
		if c.KMS.KeyID == "" {
			errs = append(errs, &ConfigError{Setting: name("KMS.KeyID"), Reason: `required for type "kms": the key's id, ARN or alias`})
		}
		if c.KMS.MaxAttempts < 0 {
			errs = append(errs, &ConfigError{Setting: name("KMS.MaxAttempts"), Value: strconv.Itoa(c.KMS.MaxAttempts), Reason: "must not be negative"})
		}
		if c.KMS.MaxBackoff < 0 {
			errs = append(errs, &ConfigError{Setting: name("KMS.MaxBackoff"), Value: c.KMS.MaxBackoff.String(), Reason: "must not be negative"})
		}
		if c.KMS.Timeout < 0 {
			errs = append(errs, &ConfigError{Setting: name("KMS.Timeout"), Value: c.KMS.Timeout.String(), Reason: "must not be negative"})
		}
		if insecureKMSEndpoint(c.KMS.Endpoint) && !c.KMS.AllowInsecureEndpoint {
			errs = append(errs, &ConfigError{Setting: name("KMS.Endpoint"), Value: c.KMS.Endpoint, Err: keys.ErrInsecureEndpoint,
				Reason: "plain http would carry the registry key in clear: use https, or set " + name("KMS.AllowInsecureEndpoint") + " to accept it (a KMS on the loopback interface)"})
		}
	case keys.KindPlaintext:
	default:
		errs = append(errs, &ConfigError{Setting: name("Type"), Value: c.Type, Reason: masterKeyTypes})
	}
	return errs
}

// insecureKMSEndpoint reports whether a KMS endpoint is plain HTTP, which
// keys.NewKMS refuses without KMSConfig.AllowInsecureEndpoint.
func insecureKMSEndpoint(endpoint string) bool {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	return err == nil && strings.EqualFold(u.Scheme, "http")
}

// kmsField names the first KMS setting given, "" if none.
func kmsField(k keys.KMSConfig) string {
	switch {
	case k.KeyID != "":
		return "KMS.KeyID"
	case k.Region != "":
		return "KMS.Region"
	case k.Endpoint != "":
		return "KMS.Endpoint"
	case k.AllowInsecureEndpoint:
		return "KMS.AllowInsecureEndpoint"
	case k != keys.KMSConfig{}:
		return "KMS"
	}
	return ""
}

// joinErrors is errors.Join, except that a single error comes back as
// itself, so callers can type-assert the common case.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

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

// tikvDocument is the little of a whole tikv.toml that ParseConfig reads.
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

// ParseConfig reads TiKV's encryption settings: either a whole tikv.toml,
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
func ParseConfig(tikvTOML []byte) (Config, error) {
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

// tomlType returns the raw type ParseConfig decodes into that go-toml names
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
