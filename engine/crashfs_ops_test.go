package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The ops of the TestCrashFS workload: each changes the FS and the model
// of what is durable together.

// errReencryptIncomplete: Reencrypt returned nil and left a table under an
// older key.
var errReencryptIncomplete = errors.New("engine test: Reencrypt returned nil, yet a table is still under an older data key")

// step runs one random op and returns its label.
func (w *ecWork) step() (string, error) {
	w.beginOp()
	defer w.endOp()
	type op struct {
		weight int
		name   string
		run    func() error
	}
	ops := []op{
		{14, "create", func() error { return w.opCreate(".sst", false) }},
		{8, "create-log", func() error { return w.opCreate(".log", true) }},
		{2, "create-over", w.opCreateOver},
		{14, "append", w.opAppend},
		{8, "sync", w.opSync},
		{5, "close", w.opClose},
		{7, "rename", func() error { return w.opRename(false) }},
		{2, "rename-over", func() error { return w.opRename(true) }},
		{4, "link", w.opLink},
		{8, "remove", w.opRemove},
		{6, "reuse", w.opReuse},
		{5, "open-rw", w.opOpenRW},
		{4, "rotate", w.opRotate},
		{3, "reencrypt", w.opReencrypt},
		{4, "sync-dir", func() error {
			d := ecDirs[w.rng.IntN(len(ecDirs))]
			w.logf("sync-dir %q", d)
			return w.syncDir(d)
		}},
		{5, "read", w.opRead},
		{2, "reopen", w.opReopen},
	}
	if len(w.cur) > 40 {
		ops[9].weight = 60 // remove
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	r := w.rng.IntN(total)
	for _, o := range ops {
		if r < o.weight {
			w.curOp = o.name
			return o.name, o.run()
		}
		r -= o.weight
	}
	panic("unreachable")
}

func (w *ecWork) opCreate(ext string, keepOpen bool) error {
	rel := w.fresh(ext)
	n := w.newNode()
	fh, err := w.f.Create(ecAbs(rel), vfs.WriteCategoryUnspecified)
	if err != nil {
		w.failed(rel, n)
		return err
	}
	w.handles[n] = &ecHandle{fh: fh, seq: true}
	w.cur[rel] = n
	w.touch(rel, "create")
	for range 1 + w.rng.IntN(3) {
		if err := w.write(n); err != nil {
			return err
		}
	}
	synced := w.rng.IntN(10) < 9
	if synced {
		if err := w.sync(n); err != nil {
			return err
		}
	}
	w.logf("create %s (%d bytes, synced %v)", rel, len(n.data), synced)
	if !keepOpen {
		if err := w.closeNode(n); err != nil {
			return err
		}
	}
	return w.maybeSyncDir(ecDirOf(rel), 80)
}

// opCreateOver creates a file over an existing one, which Create truncates.
func (w *ecWork) opCreateOver() error {
	rel, ok := w.pick(func(_ string, n *ecNode) bool { return w.closed(n) })
	if !ok {
		return nil
	}
	old := w.cur[rel]
	n := w.newNode()
	fh, err := w.f.Create(ecAbs(rel), vfs.WriteCategoryUnspecified)
	if err != nil {
		w.failed(rel, nil)
		w.failed(rel, n)
		return err
	}
	w.handles[n] = &ecHandle{fh: fh, seq: true}
	w.cur[rel] = n
	w.touch(rel, "create-over")
	w.logf("create-over %s (was node %d, %d bytes)", rel, old.id, len(old.data))
	if err := w.write(n); err != nil {
		return err
	}
	if err := w.sync(n); err != nil {
		return err
	}
	if err := w.closeNode(n); err != nil {
		return err
	}
	return w.maybeSyncDir(ecDirOf(rel), 50)
}

func (w *ecWork) opAppend() error {
	n, ok := w.pickHandle()
	if !ok {
		return nil
	}
	w.logf("append node %d", n.id)
	return w.write(n)
}

func (w *ecWork) opSync() error {
	n, ok := w.pickHandle()
	if !ok {
		return nil
	}
	w.logf("sync node %d (%d bytes)", n.id, len(n.data))
	return w.sync(n)
}

func (w *ecWork) opClose() error {
	n, ok := w.pickHandle()
	if !ok {
		return nil
	}
	if w.rng.IntN(2) == 0 {
		if err := w.sync(n); err != nil {
			return err
		}
	}
	w.logf("close node %d", n.id)
	return w.closeNode(n)
}

func (w *ecWork) pickHandle() (*ecNode, bool) {
	if len(w.handles) == 0 {
		return nil, false
	}
	ns := slices.SortedFunc(maps.Keys(w.handles), func(a, b *ecNode) int { return a.id - b.id })
	return ns[w.rng.IntN(len(ns))], true
}

// opRename renames a closed file to a fresh name of its directory, or over
// another closed file.
func (w *ecWork) opRename(over bool) error {
	from, ok := w.pick(func(_ string, n *ecNode) bool { return w.closed(n) })
	if !ok {
		return nil
	}
	x := w.cur[from]
	var to string
	if over {
		if to, ok = w.pick(func(rel string, n *ecNode) bool {
			return rel != from && n != x && w.closed(n) && ecDirOf(rel) == ecDirOf(from) && path.Ext(rel) == path.Ext(from)
		}); !ok {
			return nil
		}
	} else {
		w.next++
		to = fmt.Sprintf("%06d%s", w.next, from[strings.LastIndexByte(from, '.'):])
		if d := ecDirOf(from); d != "" {
			to = d + "/" + to
		}
	}
	label := map[bool]string{false: "rename", true: "rename-over"}[over]
	if err := w.f.Rename(ecAbs(from), ecAbs(to)); err != nil {
		w.failed(from, nil)
		w.failed(to, x)
		return err
	}
	w.logf("%s %s -> %s", label, from, to)
	delete(w.cur, from)
	w.cur[to] = x
	w.touch(from, label)
	w.touch(to, label)
	w.moved(from, to)
	return w.maybeSyncDir(ecDirOf(to), map[bool]int{false: 80, true: 50}[over])
}

// opLink links a table under a fresh name, as a checkpoint does.
func (w *ecWork) opLink() error {
	from, ok := w.pick(func(rel string, n *ecNode) bool { return strings.HasSuffix(rel, ".sst") && w.closed(n) })
	if !ok {
		return nil
	}
	to := w.fresh(".sst")
	x := w.cur[from]
	if err := w.f.Link(ecAbs(from), ecAbs(to)); err != nil {
		w.failed(to, x)
		return err
	}
	w.logf("link %s -> %s", from, to)
	w.cur[to] = x
	w.touch(to, "link")
	return w.maybeSyncDir(ecDirOf(to), 80)
}

// opRemove removes a closed file; Pebble does not sync the directory after
// removing obsolete files, so most removals stay unsynced for a while.
func (w *ecWork) opRemove() error {
	rel, ok := w.pick(func(_ string, n *ecNode) bool { return w.closed(n) })
	if !ok {
		return nil
	}
	if err := w.f.Remove(ecAbs(rel)); err != nil {
		w.failed(rel, nil)
		return err
	}
	w.logf("remove %s", rel)
	delete(w.cur, rel)
	w.touch(rel, "remove")
	return w.maybeSyncDir(ecDirOf(rel), 30)
}

// opReuse recycles a closed log as Pebble does: ReuseForWrite to a fresh
// name, sync the directory, then write the new log from offset 0. (Logs
// have one name: only tables are linked.)
func (w *ecWork) opReuse() error {
	from, ok := w.pick(func(rel string, n *ecNode) bool { return strings.HasSuffix(rel, ".log") && w.closed(n) })
	if !ok {
		return nil
	}
	w.next++
	to := fmt.Sprintf("%06d.log", w.next)
	if d := ecDirOf(from); d != "" {
		to = d + "/" + to
	}
	y := w.newNode()
	y.reused = true
	fh, err := w.f.ReuseForWrite(ecAbs(from), ecAbs(to), vfs.WriteCategoryUnspecified)
	if err != nil {
		w.failed(from, nil)
		w.failed(to, y)
		return err
	}
	w.logf("reuse %s -> %s", from, to)
	w.handles[y] = &ecHandle{fh: fh, seq: true}
	delete(w.cur, from)
	w.cur[to] = y
	w.touch(from, "reuse")
	w.touch(to, "reuse")
	w.moved(from, to)
	if err := w.syncDir(ecDirOf(to)); err != nil {
		return err
	}
	for range 1 + w.rng.IntN(2) {
		if err := w.write(y); err != nil {
			return err
		}
	}
	if w.rng.IntN(10) < 8 {
		if err := w.sync(y); err != nil {
			return err
		}
	}
	if w.rng.IntN(10) < 3 {
		return w.closeNode(y)
	}
	return nil
}

// opOpenRW opens a closed log for appending (WriteAt at its end), or
// creates a fresh one with OpenReadWrite. Not a recycled log: the older
// log's bytes past its data count as written (overwrite.go refuses a write
// over them), and Pebble never reopens a log to append.
func (w *ecWork) opOpenRW() error {
	rel, ok := w.pick(func(rel string, n *ecNode) bool { return strings.HasSuffix(rel, ".log") && w.closed(n) && !n.reused })
	if !ok || w.rng.IntN(5) == 0 {
		rel = w.fresh(".log")
	}
	n := w.cur[rel]
	created := n == nil
	if created {
		n = w.newNode()
	}
	fh, err := w.f.OpenReadWrite(ecAbs(rel), vfs.WriteCategoryUnspecified)
	if err != nil {
		if created {
			w.failed(rel, n)
		}
		return err
	}
	w.handles[n] = &ecHandle{fh: fh}
	if created {
		w.cur[rel] = n
		w.touch(rel, "create")
	}
	w.logf("open-rw %s (created %v)", rel, created)
	if err := w.write(n); err != nil {
		return err
	}
	if w.rng.IntN(10) < 7 {
		if err := w.sync(n); err != nil {
			return err
		}
	}
	if w.rng.IntN(2) == 0 {
		if err := w.closeNode(n); err != nil {
			return err
		}
	}
	if created {
		return w.maybeSyncDir(ecDirOf(rel), 80)
	}
	return nil
}

func (w *ecWork) opRotate() error {
	w.logf("rotate")
	return w.f.RotateDataKey()
}

// opReencrypt re-encrypts the tables under older keys. It changes no file's
// contents, so the model stays as it is; the tables are only marked as
// touched, for the report.
func (w *ecWork) opReencrypt() error {
	for rel := range w.cur {
		if strings.HasSuffix(rel, ".sst") {
			w.touch(rel, "reencrypt")
		}
	}
	var p Progress
	if err := w.f.Reencrypt(context.Background(), func(q Progress) { p = q }); err != nil {
		return err
	}
	w.logf("reencrypt (%d tables rewritten)", p.FilesDone)
	if p.FilesDone > 0 {
		w.reenc++
	}
	active := w.f.reg.Active().ID()
	for _, rel := range slices.Sorted(maps.Keys(w.cur)) {
		if e, ok := w.f.dict.get(rel); strings.HasSuffix(rel, ".sst") && (!ok || e.KeyID != active) {
			return fmt.Errorf("%w: %s", errReencryptIncomplete, rel)
		}
	}
	return nil
}

// opRead reads a file through the open FS: it holds exactly what was written.
func (w *ecWork) opRead() error {
	rel, ok := w.pick(func(string, *ecNode) bool { return true })
	if !ok {
		return nil
	}
	n := w.cur[rel]
	c, err := ecReadFile(w.f, ecAbs(rel))
	if err != nil {
		return err
	}
	w.logf("read %s", rel)
	if !ecMatch(c, nil, n, len(n.data), true) {
		return fmt.Errorf("%w: %s (node %d) reads %d bytes, %d written, first difference at %d", errLiveRead, rel, n.id, len(c), len(n.data), firstDiff(c, n.data))
	}
	return nil
}

var errLiveRead = errors.New("engine test: a file of the open FS does not read back what was written")

// opReopen closes every handle (nothing synced on the way) and reopens the FS.
func (w *ecWork) opReopen() error {
	w.logf("reopen")
	if err := w.shutdown(); err != nil {
		return err
	}
	return w.open()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func ecReadFile(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
