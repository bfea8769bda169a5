package engine

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tde-go/tde/keys"
)

// Config configures Open. It is a plain struct, so programs can build one
// without text; ParseTiKVConfig and ParseCockroachSpec build one from
// TiKV's and CockroachDB's settings.
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
