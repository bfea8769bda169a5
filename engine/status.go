package engine

import (
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// Status is what the store's encryption looks like now: what tdectl status
// prints and what an operator checks after enabling, rotating or
// re-encrypting.
type Status struct {
	Dir       string
	Method    keys.Method  // method of new files
	ActiveKey keys.KeyInfo // ID 0 while the method is plaintext
	MasterKey string       // the master key's description (kind and id, never the key)
	Strict    bool         // every file was written through tde

	Active    Usage // files under the active data key
	Older     Usage // files under other data keys
	Plaintext Usage // plaintext files (entries of the plaintext method, or none)
	Keys      []KeyUsage

	DictionaryEntries int
	DictionaryPath    string
	DictionaryBytes   int64

	// MissingDirEntries counts the entries of files whose directory is
	// missing (a WAL volume not mounted, a checkpoint moved away): Open
	// keeps them, and their data keys, until it can tell whether the files
	// are gone. MissingDirs lists those directories, relative to Dir and
	// slash-separated, sorted.
	MissingDirEntries int
	MissingDirs       []string
	// UnseenDirEntries counts the entries of files in directories outside
	// the store (a WAL directory elsewhere) that the FS has not seen since
	// it opened: only Pebble knows where they are, and names them when it
	// opens the store (extdir.go). UnseenDirs lists them as the dictionary
	// names them ("TDE-EXT-<identifier>"), sorted. Their entries and data
	// keys are kept.
	UnseenDirEntries int
	UnseenDirs       []string

	// Bytes through the kernels since Open, by method.
	Encrypted map[keys.Method]uint64
	Decrypted map[keys.Method]uint64

	// Backend computes the AES-CTR keystreams: tde's kernel ("vaes-zmm",
	// "aesni", …) or "fips140", the standard library's module. FIPS says
	// what turned Go's FIPS 140-3 mode on, "" when it is off (fips.go).
	Backend string
	FIPS    string
}

// Usage counts files and their bytes.
type Usage struct {
	Files int
	Bytes int64
}

// KeyUsage is one data key's metadata and what it encrypts.
type KeyUsage struct {
	keys.KeyInfo
	Usage
}

// Total is every file the status counted.
func (s Status) Total() Usage {
	return Usage{
		Files: s.Active.Files + s.Older.Files + s.Plaintext.Files,
		Bytes: s.Active.Bytes + s.Older.Bytes + s.Plaintext.Bytes,
	}
}

// Fraction returns u's share of total in files and in bytes, each in [0, 1]
// (0 when total is empty).
func (u Usage) Fraction(total Usage) (files, bytes float64) {
	if total.Files > 0 {
		files = float64(u.Files) / float64(total.Files)
	}
	if total.Bytes > 0 {
		bytes = float64(u.Bytes) / float64(total.Bytes)
	}
	return files, bytes
}

// Age is how long the active key has been active, by the given clock.
func (s Status) Age(now time.Time) time.Duration {
	if s.ActiveKey.ID == 0 {
		return 0
	}
	return now.Sub(s.ActiveKey.Created)
}

// Status walks the store directory and the dictionary and reports how its
// files are encrypted. Files that vanish during the walk are left out.
func (f *FS) Status() Status {
	s := Status{
		Dir:               f.dir,
		Method:            f.reg.Method(),
		MasterKey:         f.reg.Master().String(),
		Strict:            f.dict.strict(),
		DictionaryEntries: f.dict.len(),
		DictionaryPath:    f.dict.logPath(),
		DictionaryBytes:   f.dict.size(),
		Encrypted:         map[keys.Method]uint64{},
		Decrypted:         map[keys.Method]uint64{},
	}
	s.setBackend()
	for m := keys.MethodAES128CTR; m <= keys.MethodSM4CTR; m++ {
		s.Encrypted[m] = f.stats[m].encrypted.Load()
		s.Decrypted[m] = f.stats[m].decrypted.Load()
	}
	byKey := map[uint64]*KeyUsage{}
	for _, ki := range f.reg.Keys() {
		if ki.Active {
			s.ActiveKey = ki
		}
		s.Keys = append(s.Keys, KeyUsage{KeyInfo: ki})
	}
	for i := range s.Keys {
		byKey[s.Keys[i].ID] = &s.Keys[i]
	}

	seen := map[string]bool{}
	count := func(rel string, size int64, e entry, ok bool) {
		u := Usage{Files: 1, Bytes: size}
		switch {
		case !ok || e.Method == keys.MethodPlaintext:
			s.Plaintext.add(u)
		case e.KeyID == s.ActiveKey.ID:
			s.Active.add(u)
		default:
			s.Older.add(u)
		}
		if ok {
			if k := byKey[e.KeyID]; k != nil {
				k.add(u)
			}
		}
	}
	// Files in the store directory tree, entry or not. A walk that fails
	// part way reports what it saw; Status has no error to return.
	_ = f.walk(".", func(rel string, fi vfs.FileInfo) {
		seen[rel] = true
		e, ok := f.dict.get(rel)
		count(rel, fi.Size(), e, ok)
	})
	// Files outside it that the dictionary knows (a WAL directory elsewhere).
	missing, unseen := map[string]bool{}, map[string]bool{}
	f.dict.each(func(rel string, e entry) {
		if seen[rel] {
			return
		}
		if f.unseen(rel) {
			if !unseen[extRdir(rel)] {
				unseen[extRdir(rel)] = true
				s.UnseenDirs = append(s.UnseenDirs, extRdir(rel))
			}
			s.UnseenDirEntries++
			return
		}
		fi, err := f.base.Stat(f.abs(rel))
		if err != nil {
			s.countMissingDir(f, missing, rel)
			return
		}
		if fi.IsDir() {
			return
		}
		count(rel, fi.Size(), e, true)
	})
	sort.Strings(s.MissingDirs)
	sort.Strings(s.UnseenDirs)
	sort.Slice(s.Keys, func(i, j int) bool { return s.Keys[i].Created.Before(s.Keys[j].Created) })
	return s
}

func (u *Usage) add(v Usage) { u.Files += v.Files; u.Bytes += v.Bytes }

// countMissingDir counts rel, an entry whose file was not found, if its
// directory is missing; known caches the answer for each directory.
func (s *Status) countMissingDir(f *FS, known map[string]bool, rel string) {
	rdir := splitRel(rel)
	m, ok := known[rdir]
	if !ok {
		m = f.missingDir(rdir)
		known[rdir] = m
		if m {
			s.MissingDirs = append(s.MissingDirs, rdir)
		}
	}
	if m {
		s.MissingDirEntries++
	}
}

// walk calls fn for every regular file under the store directory except
// tde's own files, Pebble's LOCK, which holds no data, and subdirectories
// that are stores of their own (exported checkpoints). It stops at the
// first directory it cannot list or file it cannot stat, except files that
// vanish meanwhile.
func (f *FS) walk(rel string, fn func(rel string, fi vfs.FileInfo)) error {
	names, err := f.base.List(f.abs(rel))
	if err != nil {
		return err
	}
	if rel != "." && holdsStore(names) {
		return nil // a checkpoint's own store: checkpoint.go
	}
	sort.Strings(names)
	for _, n := range names {
		r := path.Join(rel, n)
		if reserved(r) || n == pebblefile.Lock || strings.HasSuffix(r, reencryptSuffix) {
			continue
		}
		fi, err := f.base.Stat(f.abs(r))
		if oserror.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if err := f.walk(r, fn); err != nil {
				return err
			}
			continue
		}
		fn(r, fi)
	}
	return nil
}
