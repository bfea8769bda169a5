package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// A store that was encrypted and has lost its dictionary must not open as
// a fresh store: ciphertext would read as plaintext from before encryption,
// ReencryptAll would encrypt it twice, and the new dictionary would reuse
// (truncate) the old log's name. What shows a store was encrypted: the key
// registry, a dictionary log or marker, an OPTIONS file that is not Pebble's
// plaintext. Pebble files and nothing else are a plaintext store turning
// encryption on, as before.
//
// The order of a first Open keeps this sound after a crash: the dictionary
// (log, then marker) is created before the registry, so a registry without
// a dictionary is always a lost one, and a log without a marker or a
// registry is a first Open that crashed, which recorded no file.

// LostMetadataError reports a store directory that shows it was encrypted
// but has no readable file dictionary, or a dictionary whose key registry
// is gone. Open changed nothing. It matches ErrLostMetadata (and Err, if
// set).
type LostMetadataError struct {
	Dir    string   // the store directory
	Files  []string // what was found, relative to Dir
	Reason string
	Err    error // the underlying error, if a file could not be read
}

func (e *LostMetadataError) Error() string {
	s := fmt.Sprintf("engine: store %s: %s", e.Dir, e.Reason)
	if len(e.Files) > 0 {
		s += " (found " + strings.Join(e.Files, ", ") + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + "; the store was left unchanged: restore tde's files (marker.tde-dict.*, TDE-DICT-*, TDE-KEYS) from a backup"
}

func (e *LostMetadataError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrLostMetadata, e.Err}
	}
	return []error{ErrLostMetadata}
}

// pebbleOptionsHeader starts every OPTIONS file Pebble writes.
const pebbleOptionsHeader = "[Version]"

// maxEmptyLog bounds what holdsNothing reads: a log that records no file is
// one header record.
const maxEmptyLog = 4 << 10

// checkMetadata fails, writing nothing, if dir shows an encrypted store
// whose dictionary cannot be read. Open calls it before the lock (whose file
// the lock call may create); readDictionary checks again under the lock.
func checkMetadata(fs vfs.FS, dir string) error {
	value, err := atomicfs.ReadMarker(fs, dir, dictMarkerName)
	if oserror.IsNotExist(err) {
		return nil // no directory, nothing to lose
	}
	if err != nil {
		return fmt.Errorf("engine: locating the file dictionary in %s: %w", dir, err)
	}
	if value == "" {
		return lostDictionary(fs, dir)
	}
	path := fs.PathJoin(dir, value)
	f, err := fs.Open(path)
	if err != nil {
		return unreadableLog(dir, path, value, err)
	}
	return f.Close()
}

// unreadableLog is the error for the log the marker names that cannot be
// opened.
func unreadableLog(dir, path, name string, err error) error {
	if oserror.IsNotExist(err) {
		return &CorruptDictionaryError{Path: path, Offset: -1, Reason: "the marker names this log but it does not exist"}
	}
	return &LostMetadataError{Dir: dir, Files: []string{name}, Reason: "the file dictionary cannot be read", Err: err}
}

// lostDictionary is checkMetadata for a directory with no dictionary
// marker: it fails if anything there shows the store was encrypted.
func lostDictionary(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if oserror.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: listing %s: %w", dir, err)
	}
	var found, logs []string
	for _, n := range names {
		switch {
		case n == keys.RegistryFile || n == registryTempFile,
			strings.HasPrefix(n, pebblefile.MarkerPrefix+dictMarkerName+"."):
			found = append(found, n)
		case strings.HasPrefix(n, dictLogPrefix):
			logs = append(logs, n)
		case strings.HasPrefix(n, pebblefile.OptionsPrefix) && encryptedOptions(fs, fs.PathJoin(dir, n)):
			found = append(found, n)
		}
	}
	empty := len(found) == 0
	for _, n := range logs {
		empty = empty && holdsNothing(fs, fs.PathJoin(dir, n))
	}
	if empty {
		return nil // never encrypted, or a first Open that crashed
	}
	return &LostMetadataError{
		Dir:    dir,
		Files:  append(found, logs...),
		Reason: "the store was encrypted but its file dictionary marker (marker." + dictMarkerName + ".*) is missing or names no log",
	}
}

// encryptedOptions reports whether the OPTIONS file at path does not start
// as Pebble writes it: it was written through tde.
func encryptedOptions(fs vfs.FS, path string) bool {
	f, err := fs.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [len(pebbleOptionsHeader)]byte
	n, _ := io.ReadFull(f, b[:])
	return n > 0 && !strings.HasPrefix(pebbleOptionsHeader, string(b[:n]))
}

// holdsNothing reports whether the dictionary log at path records no file:
// at most a header, all a first Open that crashed before its marker moved
// can leave. Anything else, or a log that cannot be read, records
// something.
func holdsNothing(fs vfs.FS, path string) bool {
	f, err := fs.Open(path)
	if err != nil {
		return false
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEmptyLog+1))
	f.Close()
	if err != nil || len(data) > maxEmptyLog {
		return false
	}
	d := &dictionary{fs: fs, opts: dictOptions{Logger: slog.New(slog.DiscardHandler)}, state: newDictState(), removed: map[string]bool{}}
	if err := d.replay(path, data); err != nil {
		// Only a header cut short: it was being written.
		var ce *CorruptDictionaryError
		return errors.As(err, &ce) && d.header == (dictHeader{})
	}
	return len(d.state.entries) == 0 && len(d.state.pending) == 0 && d.state.epoch == nil
}

// checkRegistry fails if the dictionary names encrypted files, or an epoch
// that gives files a key, and the key registry is gone: a new registry
// would leave them unreadable.
func (f *FS) checkRegistry() error {
	if !f.dict.created() || !f.dict.needsKeys() {
		return nil
	}
	_, err := f.base.Stat(f.base.PathJoin(f.dir, keys.RegistryFile))
	switch {
	case err == nil:
		return nil
	case oserror.IsNotExist(err):
		return &LostMetadataError{Dir: f.dir, Files: []string{f.base.PathBase(f.dict.logName)}, Reason: "the file dictionary names encrypted files but the key registry " + keys.RegistryFile + " is missing"}
	default:
		return fmt.Errorf("engine: key registry in %s: %w", f.dir, err)
	}
}
