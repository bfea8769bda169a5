package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error Open and the FS return for bad input or a
// damaged store matches one of these, or one of package keys' (a wrong master
// key is keys.ErrWrongMasterKey), with errors.Is; the typed errors below carry
// which file or setting and what was expected.
var (
	// ErrInvalidConfig: a configuration setting is missing, unknown or has a
	// value tde cannot use.
	ErrInvalidConfig = errors.New("engine: invalid encryption configuration")

	// ErrCorruptDictionary: the file dictionary cannot be decoded: a record
	// that fails its checksum in the middle of the log, an unknown record
	// type, or a log of a format version this build cannot read.
	ErrCorruptDictionary = errors.New("engine: corrupt file dictionary")

	// ErrMissingEntry: a file with no dictionary entry in a store whose
	// every file was written by tde, so the file cannot be plaintext from
	// before encryption was turned on.
	ErrMissingEntry = errors.New("engine: file has no dictionary entry")

	// ErrReservedName: Pebble (or a program using the FS) tried to create,
	// write, rename or remove one of tde's own files in the store directory.
	ErrReservedName = errors.New("engine: name reserved for tde's own files")

	// ErrOutsideStore: a path that cannot be expressed relative to the
	// store directory (another volume on Windows, say).
	ErrOutsideStore = errors.New("engine: path not relative to the store directory")

	// ErrFilesOpen: Close was called while files of the FS are still open
	// (close the Pebble DB first).
	ErrFilesOpen = errors.New("engine: files still open")

	// ErrClosed: the FS was closed.
	ErrClosed = errors.New("engine: closed")

	// ErrLostMetadata: the store was encrypted (it has a key registry, a
	// dictionary log or marker, or an encrypted Pebble file) but its file
	// dictionary is missing or unreadable, or its dictionary names
	// encrypted files and the registry is missing. Open refuses it rather
	// than read ciphertext as plaintext.
	ErrLostMetadata = errors.New("engine: encryption metadata lost")

	// ErrOverwrite: a write over bytes of a file already written under the
	// same keystream (data key and IV). CTR would XOR the two plaintexts
	// with one keystream, so the write is refused and nothing is written.
	ErrOverwrite = errors.New("engine: write over bytes already written under this keystream")

	// ErrSecondaryCache: Pebble's secondary cache for shared storage
	// (Options.Experimental.SecondaryCacheSizeBytes) rewrites its files in
	// place, which CTR encryption cannot do without reusing keystream. Its
	// files are refused at open; pebble.Open then fails with this error.
	ErrSecondaryCache = errors.New("engine: Pebble's secondary cache rewrites its files in place, which CTR encryption cannot do without reusing keystream: set Options.Experimental.SecondaryCacheSizeBytes to 0")

	// ErrNestedStore: a file read through a store's FS lies in a
	// subdirectory that is a store of its own (a checkpoint taken through
	// the engine holds its own dictionary and key registry). Open that
	// directory with engine.Open to read it.
	ErrNestedStore = errors.New("engine: the file belongs to a store of its own (a checkpoint): open its directory with engine.Open")

	// ErrReadOnly: a write-side operation (create, rename, remove, mkdir,
	// rotation, re-encryption) on an FS opened with Config.ReadOnly.
	ErrReadOnly = errors.New("engine: store opened read-only")

	// ErrStoreInUse: the store's Pebble LOCK is held by another process (or
	// another DB in this one), so an offline operation must not touch it
	// (StoreInUseError); or another FS of this process has the store open
	// (StoreOpenError).
	ErrStoreInUse = errors.New("engine: store in use")
)

// ConfigError reports a configuration setting that cannot be used. It
// matches ErrInvalidConfig. It never carries key material: settings name key
// files, never keys.
type ConfigError struct {
	Setting string // as the user spelled it: "data-encryption-method", "key", …
	Value   string // the value given, if it helps ("aes512-ctr")
	Reason  string // what was expected
	Err     error  // an underlying error (a key file's, a parse error), if any
}

func (e *ConfigError) Error() string {
	s := "engine: setting " + e.Setting
	if e.Value != "" {
		s += fmt.Sprintf(" = %q", e.Value)
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidConfig, e.Err}
	}
	return []error{ErrInvalidConfig}
}

// CorruptDictionaryError reports a dictionary log that cannot be replayed.
// It matches ErrCorruptDictionary.
type CorruptDictionaryError struct {
	Path   string // the log file
	Offset int64  // byte offset of the bad record in Path, -1 if unknown
	Reason string
}

func (e *CorruptDictionaryError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("engine: corrupt file dictionary %s at offset %d: %s", e.Path, e.Offset, e.Reason)
	}
	return fmt.Sprintf("engine: corrupt file dictionary %s: %s", e.Path, e.Reason)
}

func (e *CorruptDictionaryError) Is(target error) bool { return target == ErrCorruptDictionary }

// MissingEntryError reports a file with no dictionary entry in a store that
// requires one. It matches ErrMissingEntry.
type MissingEntryError struct {
	Path string
}

func (e *MissingEntryError) Error() string {
	return "engine: " + e.Path + " has no entry in the file dictionary, and every file of this store was written encrypted: it was not written through tde, or its entry was lost"
}

func (e *MissingEntryError) Is(target error) bool { return target == ErrMissingEntry }

// PathError reports a file operation the engine refused or that failed in
// the engine's own bookkeeping. It names the operation and the file.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return "engine: " + e.Op + " " + e.Path + ": " + e.Err.Error() }

func (e *PathError) Unwrap() error { return e.Err }
