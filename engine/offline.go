package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// ReencryptAll rewrites every file of a closed store that is not under the
// active data key: WALs, MANIFESTs, OPTIONS, Pebble's markers, tables, blob
// files and anything else in the store directory tree. It is Reencrypt for
// a store no Pebble has open, which can move the files a running Pebble
// keeps appending to. If the method is plaintext, files are rewritten
// unencrypted.
//
// Files outside the store directory that the dictionary knows (a WAL
// directory elsewhere) are not rewritten: the dictionary is not
// authenticated, and a path in it must not make a re-encryption rewrite
// any file it names. They are listed in Progress.Skipped and logged; they
// keep their key, which stays in the registry, until Pebble rolls them
// (WALs go to the active key as Pebble makes new ones).
//
// No Pebble may have the store open: hold its LOCK (LockStore) for the
// duration. ReencryptAll fails with ErrFilesOpen if any file of the FS is
// open.
//
// Each file is rewritten as Reencrypt rewrites a table: copied under the
// active key to name+".tde-reencrypt", synced, renamed over the original
// (the entry moving first), each step durable before the next. So a crash
// or a kill at any point leaves every file readable, under its old key or
// its new one; the next Open removes a partial copy, and running
// ReencryptAll again resumes: files already under the active key are
// skipped. progress (may be nil) is called before the first file and after
// each. ctx stops the run between files and between chunks of a file.
// Afterwards the data keys no file uses are dropped from the registry.
func (f *FS) ReencryptAll(ctx context.Context, progress func(Progress)) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if err := f.refuseReadOnly("reencrypt", ""); err != nil {
		return err
	}
	if n := f.openFiles.Load(); n > 0 {
		return fmt.Errorf("%w: %d files of %s; ReencryptAll needs a closed store (use Reencrypt while Pebble runs)", ErrFilesOpen, n, f.dir)
	}
	if f.reg.Method() == keys.MethodPlaintext {
		f.log.Warn("tde: re-encrypting to plaintext: every rewritten file is stored unencrypted")
	}
	jobs, p, err := f.offlineJobs()
	if err != nil {
		return fmt.Errorf("engine: re-encrypting %s: %w", f.dir, err)
	}
	return f.runJobs(ctx, jobs, p, progress)
}

// NotUnderActiveKey counts the files of s that a re-encryption to the
// store's settings left behind (the check tdectl migrate ends with): those
// under older data keys, and plaintext ones unless the method is
// plaintext. skipped are the files ReencryptAll left alone outside the
// store directory on purpose (Progress.Skipped): they are not counted, as
// a WAL there moves to the active key as Pebble rolls it (their bytes,
// which Progress does not give, stay counted).
func (s Status) NotUnderActiveKey(skipped []string) Usage {
	left := s.Older
	if s.Method != keys.MethodPlaintext {
		left.add(s.Plaintext)
	}
	left.Files -= len(skipped)
	return left
}

// offlineJobs lists the files ReencryptAll rewrites: every file of the
// store directory tree that is not under the active key (no entry counts as
// plaintext), and in p.Skipped the entries outside the tree whose files
// exist and are not either, which it leaves alone.
func (f *FS) offlineJobs() ([]reencryptJob, Progress, error) {
	active := f.reg.Active().ID()
	var jobs []reencryptJob
	var p Progress
	stale := func(e entry, ok bool) bool {
		if !ok {
			return active != 0
		}
		return e.KeyID != active
	}
	seen := map[string]bool{}
	err := f.walk(".", func(rel string, fi vfs.FileInfo) {
		seen[rel] = true
		if e, ok := f.dict.get(rel); stale(e, ok) {
			jobs = append(jobs, reencryptJob{rel, fi.Size()})
			p.Bytes += fi.Size()
		}
	})
	if err != nil {
		return nil, p, err
	}
	f.dict.each(func(rel string, e entry) {
		if seen[rel] || inStoreTree(rel) || isReencryptTemp(rel) || !stale(e, true) {
			return
		}
		if fi, err := f.base.Stat(f.abs(rel)); (err != nil || fi.IsDir()) && !f.unseen(rel) {
			return // gone; a directory outside the store not seen may hold it
		}
		p.Skipped = append(p.Skipped, rel)
	})
	sort.Strings(p.Skipped)
	if len(p.Skipped) > 0 {
		f.log.Warn("tde: re-encryption leaves the files outside the store directory under their old keys",
			"dir", f.dir, "files", p.Skipped)
	}
	p.Files = len(jobs)
	return jobs, p, nil
}

func isReencryptTemp(rel string) bool { return strings.HasSuffix(rel, reencryptSuffix) }
