package engine

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tde-go/tde/keys"
)

// MasterKeyConfig says where a master key comes from.
type MasterKeyConfig struct {
	// Type is the source: "file" (TiKV's key file: 64 hex characters and a
	// newline), "raw" (CockroachDB's: a 32-byte id and a 16, 24 or 32-byte
	// key), "kms" (the AWS KMS API) or "plaintext" (no key: the registry is
	// stored unwrapped). "" means not set.
	Type string
	// Path is the key file, for "file" and "raw".
	Path string
	// KMS names the key, for "kms".
	KMS keys.KMSConfig
	// Key is a master key the caller already holds (from a secret store,
	// say). When set it is used as is and Type, Path and KMS are ignored.
	// The caller keeps ownership: the engine never closes it.
	Key keys.MasterKey

	// spelled maps a field ("" for the whole key, "Type", "Path",
	// "KMS.KeyID"…) to the setting it came from, so errors about a key
	// read from text name what the user wrote. Nil for a config built in
	// Go, whose errors name the Go fields.
	spelled map[string]string
}

// isSet reports whether a master key was configured.
func (c MasterKeyConfig) isSet() bool { return c.Type != "" || c.Key != nil }

// setting names field of c as the user spelled it; prefix is c's Go name
// ("MasterKey" or "PreviousMasterKey"), used when c was not read from text.
func (c MasterKeyConfig) setting(prefix, field string) string {
	if s, ok := c.spelled[field]; ok {
		return s
	}
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// load returns the master key c describes. A key loaded here (from a file
// or a KMS configuration) is owned by the caller, who must Close it; a
// caller-held c.Key is returned with owned false and must not be closed.
// Errors are *ConfigError naming the setting and wrap keys' errors, so
// errors.Is(err, keys.ErrInvalidKeyFile) and the like hold.
func (c MasterKeyConfig) load(ctx context.Context, allowLoose bool) (k keys.MasterKey, owned bool, err error) {
	return c.loadAs(ctx, "MasterKey", allowLoose)
}

// loadAs is load for the master key whose Go field name is prefix.
func (c MasterKeyConfig) loadAs(ctx context.Context, prefix string, allowLoose bool) (keys.MasterKey, bool, error) {
	if c.Key != nil {
		return c.Key, false, nil
	}
	var opts []keys.LoadOption
	if allowLoose {
		opts = append(opts, keys.AllowLoosePermissions())
	}
	var (
		k   keys.MasterKey
		err error
	)
	switch c.Type {
	case keys.KindFile, keys.KindRaw:
		if c.Path == "" {
			return nil, false, &ConfigError{Setting: c.setting(prefix, "Path"), Reason: "required: the master key file"}
		}
		if c.Type == keys.KindFile {
			k, err = keys.LoadHexKeyFile(c.Path, opts...)
		} else {
			k, err = keys.LoadRawKeyFile(c.Path, opts...)
		}
		if err != nil {
			// keys' errors name the file and never its contents.
			return nil, false, &ConfigError{Setting: c.setting(prefix, "Path"), Reason: "cannot load the master key", Err: err}
		}
	case keys.KindKMS:
		k, err = keys.NewKMS(ctx, c.KMS)
		if err != nil {
			return nil, false, &ConfigError{Setting: c.setting(prefix, ""), Reason: "cannot set up the KMS master key", Err: err}
		}
	case keys.KindPlaintext:
		k = keys.Plaintext()
	case "":
		return nil, false, &ConfigError{Setting: c.setting(prefix, "Type"), Reason: "no master key configured"}
	default:
		return nil, false, &ConfigError{Setting: c.setting(prefix, "Type"), Value: c.Type, Reason: masterKeyTypes}
	}
	return k, true, nil
}

// masterKeyTypes is what a master key's type may be.
const masterKeyTypes = `expected "file", "raw", "kms" or "plaintext"`

// loadMasterKeys loads the current master key and the previous one (nil if
// none). release closes the keys that were loaded here, not the
// caller-held ones; it is nil when err is not.
func (c Config) loadMasterKeys(ctx context.Context) (cur, prev keys.MasterKey, release func(), err error) {
	cur, curOwned, err := c.MasterKey.loadAs(ctx, "MasterKey", c.AllowLooseKeyPermissions)
	if err != nil {
		return nil, nil, nil, err
	}
	var prevOwned bool
	if c.PreviousMasterKey.isSet() {
		prev, prevOwned, err = c.PreviousMasterKey.loadAs(ctx, "PreviousMasterKey", c.AllowLooseKeyPermissions)
		if err != nil {
			if curOwned {
				cur.Close()
			}
			return nil, nil, nil, err
		}
	}
	release = func() {
		if curOwned {
			cur.Close()
		}
		if prevOwned {
			prev.Close()
		}
	}
	return cur, prev, release, nil
}

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
