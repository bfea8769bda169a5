package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Sentinel errors. Every error this package returns for bad input matches
// one of these with errors.Is; the typed errors below carry the details
// (which file, which setting, what was expected).
var (
	// ErrUnknownMethod: an encryption method name or number this build does
	// not know.
	ErrUnknownMethod = errors.New("keys: unknown encryption method")

	// ErrInvalidKeyFile: a master key file of the wrong size or contents.
	ErrInvalidKeyFile = errors.New("keys: invalid master key file")

	// ErrLoosePermissions: a master key file that group or others can read.
	ErrLoosePermissions = errors.New("keys: master key file readable by group or others")

	// ErrWrongMasterKey: the registry was not wrapped under the master key
	// given (nor under the previous one, if one was given).
	ErrWrongMasterKey = errors.New("keys: wrong master key")

	// ErrMissingPreviousKey: the registry was wrapped under another master
	// key and no previous master key was given. Such an error also matches
	// ErrWrongMasterKey: without the previous key there is no telling a
	// rotated key from a mistaken one.
	ErrMissingPreviousKey = errors.New("keys: previous master key needed")

	// ErrCorruptRegistry: the registry file is truncated, altered, not a
	// registry at all, or of a format version this build cannot read.
	ErrCorruptRegistry = errors.New("keys: corrupt key registry")

	// ErrKeyNotFound: no data key with the id asked for.
	ErrKeyNotFound = errors.New("keys: data key not found")

	// ErrClosed: the registry or master key was closed.
	ErrClosed = errors.New("keys: closed")

	// ErrKMSUnavailable: the KMS could not be reached or asked us to slow
	// down (connection refused, timeout, throttling, 5xx) after the SDK's
	// retries. Trying again later may succeed.
	ErrKMSUnavailable = errors.New("keys: KMS unavailable")

	// ErrKMSKeyNotFound: the KMS has no usable key by the configured id
	// (unknown, disabled or pending deletion).
	ErrKMSKeyNotFound = errors.New("keys: KMS key not found or not usable")

	// ErrInsecureEndpoint: a KMS endpoint is plain http:// and the
	// configuration does not say that is intended
	// (KMSConfig.AllowInsecureEndpoint).
	ErrInsecureEndpoint = errors.New("keys: insecure KMS endpoint")

	// ErrReadOnly: a write (a rotation, a rewrap, dropping keys) to a
	// registry opened with RegistryConfig.ReadOnly.
	ErrReadOnly = errors.New("keys: registry opened read-only")
)

// KeyFileError reports a master key file that cannot be used. It matches
// ErrInvalidKeyFile or ErrLoosePermissions. Its text names the file and
// what is wrong, never the file's contents.
type KeyFileError struct {
	Path   string      // the key file; empty for keys parsed from memory
	Mode   fs.FileMode // the file's mode, for permission errors
	Reason string      // what is wrong, for a person
	Err    error       // ErrInvalidKeyFile or ErrLoosePermissions
}

func (e *KeyFileError) Error() string {
	if e.Path == "" {
		return "keys: master key: " + e.Reason
	}
	return fmt.Sprintf("keys: master key file %s: %s", e.Path, e.Reason)
}

func (e *KeyFileError) Unwrap() error { return e.Err }

// CorruptRegistryError reports a registry file that cannot be decoded or
// fails authentication. It matches ErrCorruptRegistry.
type CorruptRegistryError struct {
	Path   string
	Reason string
}

func (e *CorruptRegistryError) Error() string {
	return fmt.Sprintf("keys: key registry %s is corrupt: %s", e.Path, e.Reason)
}

func (e *CorruptRegistryError) Is(target error) bool { return target == ErrCorruptRegistry }

// WrongMasterKeyError reports a registry wrapped under a master key other
// than the ones given. It matches ErrWrongMasterKey, and also
// ErrMissingPreviousKey when no previous key was given.
type WrongMasterKeyError struct {
	Path          string   // the registry file
	WrappedUnder  string   // kind and id of the master key the registry names
	Given         []string // descriptions of the master keys tried
	PreviousGiven bool
}

func (e *WrongMasterKeyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "keys: key registry %s is wrapped under master key %s, not under %s",
		e.Path, e.WrappedUnder, strings.Join(e.Given, " nor "))
	if !e.PreviousGiven {
		b.WriteString("; if the master key was changed, give the previous one as well")
	}
	return b.String()
}

func (e *WrongMasterKeyError) Is(target error) bool {
	return target == ErrWrongMasterKey || (target == ErrMissingPreviousKey && !e.PreviousGiven)
}

// KMSError reports a failed KMS call. It matches ErrKMSUnavailable,
// ErrKMSKeyNotFound, ErrWrongMasterKey (the ciphertext belongs to another
// KMS key) or ErrCorruptRegistry (KMS rejected the ciphertext) where one
// applies, and wraps the SDK's error.
type KMSError struct {
	Op       string // KMS operation: Decrypt, GenerateDataKey
	KeyID    string
	Endpoint string // empty for the SDK's default
	Err      error  // the SDK's error
	kind     error  // one of the sentinels, or nil
}

func (e *KMSError) Error() string {
	at := ""
	if e.Endpoint != "" {
		at = " at " + e.Endpoint
	}
	what := ""
	if e.kind != nil {
		what = strings.TrimPrefix(e.kind.Error(), "keys: ") + ": "
	}
	return fmt.Sprintf("keys: KMS %s with key %q%s: %s%v", e.Op, e.KeyID, at, what, e.Err)
}

func (e *KMSError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Err}
	}
	return []error{e.kind, e.Err}
}
