package engine

import (
	"context"

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
