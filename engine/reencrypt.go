package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// Progress reports a re-encryption as it goes.
type Progress struct {
	Files, FilesDone int   // files to rewrite, and rewritten (or found gone)
	Bytes, BytesDone int64 // their bytes
	Current          string
	// Skipped lists, sorted, the files ReencryptAll leaves under their old
	// key because they are outside the store directory (paths relative to
	// it, starting with "../"): see ReencryptAll. Read only.
	Skipped []string
}

// Reencrypt rewrites every immutable file of the store (tables, blob files,
// OPTIONS) that is not under the active data key, while the store is open:
// a new copy under the active key, synced, renamed over the file, its entry
// updated first. Readers that have the old file open keep reading it. Files
// Pebble deletes meanwhile are skipped. If the method is plaintext, files
// are rewritten unencrypted. progress (may be nil) is called after each
// file. Afterwards the data keys no file uses are dropped.
func (f *FS) Reencrypt(ctx context.Context, progress func(Progress)) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if err := f.refuseReadOnly("reencrypt", ""); err != nil {
		return err
	}
	if f.reg.Method() == keys.MethodPlaintext {
		f.log.Warn("tde: re-encrypting to plaintext: every rewritten file is stored unencrypted")
	}
	var jobs []reencryptJob
	var p Progress
	active := f.reg.Active().ID()
	err := f.walk(".", func(rel string, fi vfs.FileInfo) {
		if !pebblefile.Immutable(rel) { // the rest move to the active key as Pebble rolls them
			return
		}
		e, ok := f.dict.get(rel)
		if (ok && e.KeyID == active) || (!ok && active == 0) || f.writing(rel) {
			return // done, or still being written: the next run takes it
		}
		jobs = append(jobs, reencryptJob{rel, fi.Size()})
		p.Bytes += fi.Size()
	})
	if err != nil {
		return fmt.Errorf("engine: re-encrypting %s: %w", f.dir, err)
	}
	p.Files = len(jobs)
	return f.runJobs(ctx, jobs, p, progress)
}

// reencryptJob is one file to rewrite, with its size for progress.
type reencryptJob struct {
	rel  string
	size int64
}

// runJobs rewrites each job's file in turn, reporting progress before the
// first and after each, then drops the data keys no file uses any more.
func (f *FS) runJobs(ctx context.Context, jobs []reencryptJob, p Progress, progress func(Progress)) error {
	if progress != nil {
		progress(p)
	}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.Current = j.rel
		if err := f.rewrite(ctx, j.rel); err != nil {
			return err
		}
		p.FilesDone++
		p.BytesDone += j.size
		if progress != nil {
			progress(p)
		}
	}
	_, err := f.retain(ctx)
	return err
}

// rewrite copies rel to a temporary file under the active key and renames
// it over rel, if rel still exists with the entry it was copied under.
func (f *FS) rewrite(ctx context.Context, rel string) (err error) {
	name := f.abs(rel)
	src, err := f.Open(name)
	if oserror.IsNotExist(err) {
		return nil // deleted by a compaction meanwhile
	}
	if err != nil {
		return err
	}
	defer src.Close()
	before, hadBefore := f.dict.get(rel)

	tmp := name + reencryptSuffix
	dst, err := f.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			f.Remove(tmp)
		}
	}()
	copied, err := copyFile(ctx, dst, src)
	if err != nil {
		dst.Close()
		return fmt.Errorf("engine: re-encrypting %s: %w", rel, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}

	relTmp := rel + reencryptSuffix
	unlock := f.paths.lockPair(relTmp, rel)
	defer unlock()
	// Rename only over the file that was copied: Pebble may have deleted
	// it (and even made a new one of that name) since.
	now, hasNow := f.dict.get(rel)
	if _, err := f.base.Stat(name); err != nil {
		if oserror.IsNotExist(err) {
			return nil // deleted meanwhile
		}
		return err
	}
	if hasNow != hadBefore || now != before {
		return nil // replaced meanwhile
	}
	if fi, err := f.base.Stat(name); err != nil || fi.Size() != copied || f.writing(rel) {
		return err // written to since the copy began: the next run takes it
	}
	if err := f.renameLocked(tmp, name, relTmp, rel); err != nil {
		// The move record may be durable though its append failed: leave
		// the copy, so the next Open undoes the move (the copy is still
		// there) and then removes it as a leftover.
		done = true
		return err
	}
	done = true
	// Durable before the old key can be retired: a crash must not bring
	// back the old file after its key is gone.
	if err := f.syncDir(rel); err != nil {
		return err
	}
	return f.dict.settleDurable(rel)
}

// inStoreTree reports whether the dictionary path rel (checked by
// checkPath: canonical and relative) is in the store directory tree rather
// than in a directory outside it (extdir.go), or under the leading "../"
// of older versions.
func inStoreTree(rel string) bool {
	return rel != ".." && !strings.HasPrefix(rel, "../") && !isExt(rel)
}

// copyFile copies src to dst through a pooled buffer, checking ctx between
// chunks, and returns the bytes copied.
func copyFile(ctx context.Context, dst, src vfs.File) (int64, error) {
	var n int64
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// removeReencryptLeftovers removes the temporary copies of a re-encryption
// that a crash interrupted, and their entries. A copy is only ever made
// next to a file of the store directory tree (Reencrypt and ReencryptAll
// rewrite nothing else), so an entry outside the tree is not one: the
// dictionary is data, not a list of files to delete. It is left alone,
// with a warning.
func (f *FS) removeReencryptLeftovers() error {
	var left, foreign []string
	f.dict.each(func(rel string, _ entry) {
		if strings.HasSuffix(rel, reencryptSuffix) {
			if inStoreTree(rel) {
				left = append(left, rel)
			} else {
				foreign = append(foreign, rel)
			}
		}
	})
	if len(foreign) > 0 {
		sort.Strings(foreign)
		f.log.Warn("tde: the file dictionary has re-encryption copies outside the store directory; left alone", "dir", f.dir, "files", foreign)
	}
	for _, rel := range left {
		if err := f.base.Remove(f.abs(rel)); err != nil && !oserror.IsNotExist(err) {
			return err
		}
		if err := f.dict.remove(rel); err != nil {
			return err
		}
	}
	return nil
}
