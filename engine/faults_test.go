package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// Fault tests: the engine over errorfs over a MemFS, with the N-th
// operation of one kind failing (errorfs.ErrInjected), for N across the
// workload. The failing call must return an error that wraps
// errorfs.ErrInjected (no panic, no wrong result); after it, the engine is
// closed and reopened on the MemFS with no faults: it opens, every file
// reads back what the model says was written before the failure (or, for
// the failed op's own files, the state before or after it), nothing reads
// garbage, and a crash clone of the moment reads back every synced byte. A
// dictionary whose append failed must refuse every namespace change.

// ftClass is a class of operations failed in turn.
type ftClass struct {
	name string
	pred func(errorfs.Op) bool
}

func ftKinds(kinds ...errorfs.OpKind) func(errorfs.Op) bool {
	return func(op errorfs.Op) bool { return slices.Contains(kinds, op.Kind) }
}

func ftFiles(match func(base string) bool) func(errorfs.Op) bool {
	return func(op errorfs.Op) bool { return match(path.Base(op.Path)) }
}

func ftDictFile(b string) bool {
	return strings.HasPrefix(b, dictLogPrefix) || strings.HasPrefix(b, "marker."+dictMarkerName+".")
}

func ftRegistryFile(b string) bool { return b == keys.RegistryFile || b == registryTempFile }

var ftClasses = []ftClass{
	{"create", ftKinds(errorfs.OpCreate)},
	{"write", ftKinds(errorfs.OpFileWrite, errorfs.OpFileWriteAt)},
	{"sync", ftKinds(errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo)},
	{"rename", ftKinds(errorfs.OpRename)},
	{"link", ftKinds(errorfs.OpLink)},
	{"remove", ftKinds(errorfs.OpRemove, errorfs.OpRemoveAll)},
	{"reuse", ftKinds(errorfs.OpReuseForWrite)},
	{"open", ftKinds(errorfs.OpOpen, errorfs.OpOpenDir, errorfs.OpLock)},
	{"read", ftKinds(errorfs.OpFileRead, errorfs.OpFileReadAt)},
	{"stat", ftKinds(errorfs.OpStat, errorfs.OpFileStat)},
	{"list", ftKinds(errorfs.OpList)},
	{"mkdir", ftKinds(errorfs.OpMkdirAll)},
	{"dictionary I/O", ftFiles(ftDictFile)},
	{"dictionary writes", func(op errorfs.Op) bool {
		return ftDictFile(path.Base(op.Path)) && op.Kind.ReadOrWrite() == errorfs.OpIsWrite
	}},
	{"key registry I/O", ftFiles(ftRegistryFile)},
	{"table I/O", ftFiles(func(b string) bool { return strings.HasSuffix(b, ".sst") })},
	{"re-encryption copies", ftFiles(func(b string) bool { return strings.HasSuffix(b, reencryptSuffix) })},
}

var ftKindNames = map[errorfs.OpKind]string{
	errorfs.OpCreate: "Create", errorfs.OpLink: "Link", errorfs.OpOpen: "Open", errorfs.OpOpenDir: "OpenDir",
	errorfs.OpRemove: "Remove", errorfs.OpRemoveAll: "RemoveAll", errorfs.OpRename: "Rename",
	errorfs.OpReuseForWrite: "ReuseForWrite", errorfs.OpMkdirAll: "MkdirAll", errorfs.OpLock: "Lock",
	errorfs.OpList: "List", errorfs.OpFilePreallocate: "Preallocate", errorfs.OpStat: "Stat",
	errorfs.OpGetDiskUsage: "GetDiskUsage", errorfs.OpFileClose: "File.Close", errorfs.OpFileRead: "File.Read",
	errorfs.OpFileReadAt: "File.ReadAt", errorfs.OpFileWrite: "File.Write", errorfs.OpFileWriteAt: "File.WriteAt",
	errorfs.OpFileStat: "File.Stat", errorfs.OpFileSync: "File.Sync", errorfs.OpFileSyncData: "File.SyncData",
	errorfs.OpFileSyncTo: "File.SyncTo", errorfs.OpFileFlush: "File.Flush",
}

func ftOpString(op errorfs.Op) string {
	name, ok := ftKindNames[op.Kind]
	if !ok {
		name = fmt.Sprintf("op %d", op.Kind)
	}
	return name + " " + op.Path
}

// ftIndexes picks the N to fail among total ops: all of them if few, else
// the first ones and an even spread over the rest.
func ftIndexes(total, runs int) []int {
	if total <= runs {
		out := make([]int, total)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	head := runs / 2
	for i := range head {
		out = append(out, i)
	}
	rest := runs - head
	for i := range rest {
		out = append(out, head+(total-1-head)*(i+1)/rest)
	}
	return slices.Compact(out)
}

func ftRuns() int {
	if testing.Short() {
		return 12
	}
	return 40
}

// TestFaultFS fails, for each class of operations, the N-th operation of
// the class in the crash workload of TestCrashFS, for N across the run.
func TestFaultFS(t *testing.T) {
	for ci, c := range ftClasses {
		t.Run(c.name, func(t *testing.T) {
			rep := newEcReport()
			var seed uint64
			var total int
			for try := range uint64(20) { // a workload that does some
				seed = uint64(100+20*ci) + try
				if total, _ = ftRun(t, c, seed, -1, rep); total > 0 {
					break
				}
			}
			if total == 0 {
				t.Fatalf("the workload does no %s operation", c.name)
			}
			fired := 0
			for _, n := range ftIndexes(total, ftRuns()) {
				if _, ok := ftRun(t, c, seed, n, rep); ok {
					fired++
				}
			}
			t.Logf("%d %s operations in the workload; failed each of %d of them in turn", total, c.name, fired)
			if fired == 0 {
				t.Errorf("no fault fired")
			}
			rep.finish(t)
			for _, cat := range rep.order {
				if e := explainFault(cat); e != "" && !rep.cats[cat].tolerated {
					t.Log(e)
				}
			}
		})
	}
}

// ftRun runs the workload with the n-th operation of class c failing (none
// if n < 0), then checks the store. It returns how many operations of the
// class the run did and whether the fault fired.
func ftRun(t *testing.T, c ftClass, seed uint64, n int, rep *ecReport) (int, bool) {
	const steps = 60
	w := newEcWork(t, seed)
	count := 0
	fired := false
	var failed errorfs.Op
	var during, failing string // the op the fault fired in, the op that returned an error
	w.inject = func(op errorfs.Op) error {
		if fired || !c.pred(op) {
			return nil
		}
		count++
		if count-1 == n {
			fired, failed, during = true, op, w.curOp
			return errorfs.ErrInjected
		}
		return nil
	}
	where := func() string {
		return fmt.Sprintf("seed %d, fault %d (%s, during %s; %s returned the first error)%s", seed, n, ftOpString(failed), during, failing, w.history())
	}
	add := func(cat, detail string) {
		if !fired {
			rep.add(ecProblem{cat: cat + " (no fault injected)", detail: detail}, where())
			return
		}
		rep.add(ecProblem{cat: cat + " (after a failed " + ftKindNames[failed.Kind] + " during " + during + ")", detail: detail}, where())
	}

	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
				add("the engine panics", fmt.Sprint(r))
			}
		}()
		w.beginOp()
		w.curOp = "open"
		err = w.open()
		if err == nil {
			w.curOp = "setup"
			err = w.setup()
		}
		w.endOp()
		for k := 0; err == nil && k < steps; k++ {
			_, err = w.step()
		}
		failing = w.curOp
	}()
	switch {
	case err == nil:
	case errors.Is(err, errLiveRead):
		add("a file of the open FS reads wrong bytes", err.Error())
	case errors.Is(err, errReencryptIncomplete):
		add("Reencrypt reports success and leaves a table under an older key", err.Error())
	case strings.HasPrefix(err.Error(), "panic: "):
	case !fired:
		add("an op fails with no fault injected", err.Error())
	case !errors.Is(err, errorfs.ErrInjected):
		add("the failing op's error does not wrap errorfs.ErrInjected", err.Error())
	}
	if n < 0 {
		if err != nil {
			t.Fatalf("seed %d: the workload fails with no fault: %v", seed, err)
		}
	}

	// A dictionary whose append failed refuses every namespace change.
	if w.f != nil && fired {
		w.f.dict.wmu.Lock()
		poisoned := w.f.dict.err != nil
		w.f.dict.wmu.Unlock()
		if poisoned {
			w.beginOp()
			w.curOp = "poisoned-dictionary checks"
			for _, p := range w.poisonedChecks(false) {
				add(p.cat, p.detail)
			}
			w.endOp()
		}
	}

	w.inject = nil
	if w.f != nil {
		// The FS still open after the failure reads every file back
		// (nothing half-applied in memory).
		for _, p := range w.verify(w.f, w.mem, []*ecState{w.state()}, false) {
			if !strings.HasPrefix(p.cat, "a re-encryption copy survives") { // only Open removes them
				add(p.cat+" through the FS still open after the fault", p.detail)
			}
		}
	}
	// Close is an op of its own: it writes the removals the dictionary
	// deferred, syncing their directory first.
	w.beginOp()
	err = w.shutdown()
	w.endOp()
	if err != nil && !errors.Is(err, errorfs.ErrInjected) {
		add("closing the FS fails", err.Error())
	}
	s := w.state()

	// What a crash at this moment would leave: every synced byte.
	clone := w.mem.CrashClone(vfs.CrashCloneCfg{})
	if f, err := Open(clone, ecStore, w.cfg); err != nil {
		add("Open fails on a crash clone after the fault", err.Error())
	} else {
		for _, p := range w.verify(f, clone, []*ecState{s}, true) {
			if !p.tolerated {
				add(p.cat+" in a crash clone after the fault", p.detail)
			}
		}
		f.Close()
	}

	// The MemFS itself, with no faults: everything written reads back.
	f, err := Open(w.mem, ecStore, w.cfg)
	if err != nil {
		add("Open fails after the fault", err.Error())
		return count, fired
	}
	for _, p := range w.verify(f, w.mem, []*ecState{s}, false) {
		add(p.cat+" on reopening after the fault", p.detail)
	}
	if err := ecWriteAfterCrash(f, w.mem, w.cfg); err != nil {
		add("the reopened store does not take new files", err.Error())
	}
	return count, fired
}

// poisonedChecks tries every namespace change on an FS whose dictionary
// append failed: each must fail with an error wrapping the failure, and
// leave no file behind (a file with no entry). Reads keep working. With
// remove, Remove must be refused too (see TestFaultPoisonedDictionary).
func (w *ecWork) poisonedChecks(remove bool) []ecProblem {
	var out []ecProblem
	try := func(op string, created []string, run func() (vfs.File, error)) {
		fh, err := run()
		if fh != nil {
			fh.Close()
		}
		switch {
		case err == nil:
			out = append(out, ecProblem{cat: "a poisoned dictionary lets a " + op + " through", detail: w.lastTry})
		case !errors.Is(err, errorfs.ErrInjected):
			out = append(out, ecProblem{cat: "a poisoned dictionary refuses a " + op + " with an error that does not wrap the failure", detail: err.Error()})
		}
		for _, rel := range created {
			if _, serr := w.mem.Stat(ecAbs(rel)); serr == nil {
				if err != nil {
					out = append(out, ecProblem{cat: "a " + op + " refused by a poisoned dictionary leaves a file", detail: rel})
				}
				w.failed(rel, w.newNode())
			}
		}
	}
	w.lastTry = "the op's new name is left with no entry"
	try("Create", []string{"poison-1.sst"}, func() (vfs.File, error) {
		return w.f.Create(ecAbs("poison-1.sst"), vfs.WriteCategoryUnspecified)
	})
	try("OpenReadWrite", []string{"poison-2.log"}, func() (vfs.File, error) {
		return w.f.OpenReadWrite(ecAbs("poison-2.log"), vfs.WriteCategoryUnspecified)
	})
	there := func(rel string) bool {
		_, err := w.mem.Stat(ecAbs(rel))
		return err == nil && len(w.unc[rel]) == 0
	}
	if src, ok := w.pick(func(rel string, n *ecNode) bool { return strings.HasSuffix(rel, ".sst") && w.closed(n) && there(rel) }); ok {
		try("Link", []string{"poison-3.sst"}, func() (vfs.File, error) { return nil, w.f.Link(ecAbs(src), ecAbs("poison-3.sst")) })
		try("Rename", []string{"poison-4.sst"}, func() (vfs.File, error) { return nil, w.f.Rename(ecAbs(src), ecAbs("poison-4.sst")) })
		if _, err := w.mem.Stat(ecAbs(src)); err != nil {
			w.failed(src, nil)
		}
	}
	if src, ok := w.pick(func(rel string, n *ecNode) bool { return strings.HasSuffix(rel, ".log") && w.closed(n) && there(rel) }); ok {
		try("ReuseForWrite", []string{"poison-5.log"}, func() (vfs.File, error) {
			return w.f.ReuseForWrite(ecAbs(src), ecAbs("poison-5.log"), vfs.WriteCategoryUnspecified)
		})
		if _, err := w.mem.Stat(ecAbs(src)); err != nil {
			w.failed(src, nil)
		}
	}
	// Remove too: a file removed after a failed move record makes the
	// next open take the move as done.
	if src, ok := w.pick(func(rel string, n *ecNode) bool { return w.closed(n) && there(rel) }); ok && remove {
		w.lastTry = "Remove " + src
		try("Remove", nil, func() (vfs.File, error) { return nil, w.f.Remove(ecAbs(src)) })
		if _, err := w.mem.Stat(ecAbs(src)); err != nil {
			w.failed(src, nil)
		}
	}
	if rel, ok := w.pick(func(rel string, _ *ecNode) bool { return there(rel) }); ok {
		n := w.cur[rel]
		c, err := ecReadFile(w.f, ecAbs(rel))
		if err != nil || !ecMatch(c, nil, n, n.minLen, true) {
			out = append(out, ecProblem{cat: "a poisoned dictionary stops reads", detail: fmt.Sprintf("%s: %d bytes, %v", rel, len(c), err)})
		}
	}
	return out
}

// explainFault names the engine bug behind a category this suite is known
// to find.
func explainFault(cat string) string {
	switch {
	case strings.Contains(cat, "failed Stat during rename"):
		return "ENGINE BUG (engine/fs.go renameLocked): when base.Stat(oldname) fails, renameLocked calls base.Rename without moving the entry, " +
			"for any error, not only a missing file. A Stat that fails for another reason (EIO, EACCES, ENOMEM) lets the rename through: the new name " +
			"has no entry (ErrMissingEntry in a strict store, read as plaintext garbage in a converted one) and the old entry is collected at the next open. " +
			"Fix: `if _, err := f.base.Stat(oldname); err != nil { if !oserror.IsNotExist(err) { return err }; return f.base.Rename(oldname, newname) }`."
	case strings.Contains(cat, "Reencrypt reports success"):
		return "ENGINE BUG (engine/status.go walk, engine/reencrypt.go Reencrypt/rewrite): walk ignores List and Stat errors, and rewrite returns nil when " +
			"Stat of the table fails, so a transient I/O error makes Reencrypt report success with tables still under the old data key (an operator then " +
			"believes the old key is out of use). Fix: let walk return its errors to Reencrypt (Status may keep ignoring them), and in rewrite return the " +
			"Stat error unless it is oserror.IsNotExist."
	case strings.Contains(cat, "lets a Remove through"):
		return "ENGINE BUG (engine/fs.go Remove/RemoveAll; seen with engine/reencrypt.go rewrite): after a failed append the dictionary's tail is unknown: the " +
			"record may be on disk. Remove still removes the file and only logs that the entry could not be dropped. If the unknown record is a move " +
			"(Rename, ReuseForWrite, Reencrypt's copy renamed over a table) and its source is then removed — rewrite's deferred f.Remove(tmp) does exactly " +
			"that — the next Open finds the move's source gone, takes the move as done and reads the old file under the copy's entry: garbage, with no crash " +
			"at all (TestFaultFS finds it after a failed dictionary write or sync during Reencrypt). Fix: Remove and RemoveAll must check the dictionary is " +
			"writable before touching the base FS, and rewrite must leave the copy in place when renameLocked fails (Open's removeReencryptLeftovers undoes it)."
	case strings.Contains(cat, "failed Stat during"):
		return explainFault("failed Stat during rename") // renameLocked, also when rewrite renames its copy
	case strings.Contains(cat, "on reopening") && strings.Contains(cat, "during reencrypt"):
		return explainFault("lets a Remove through")
	}
	return explainCrash(cat)
}

// TestFaultPoisonedDictionary: the first dictionary append after some
// files exist fails, in a Create or in a Rename: the op fails with the
// injected error and changes nothing (no file without an entry, the
// renamed file still readable under its old name through the open FS);
// every later namespace change is refused, Remove included; reads go on;
// after a reopen everything synced reads back and the store takes new
// files.
func TestFaultPoisonedDictionary(t *testing.T) {
	for _, kind := range []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileSync} {
		for _, op := range []string{"Create", "Rename"} {
			t.Run(ftKindNames[kind]+"/"+op, func(t *testing.T) {
				w := newEcWork(t, 5)
				armed := false
				w.inject = func(op errorfs.Op) error {
					if armed && op.Kind == kind && ftDictFile(path.Base(op.Path)) {
						armed = false
						return errorfs.ErrInjected
					}
					return nil
				}
				if err := errors.Join(w.open(), w.setup()); err != nil {
					t.Fatal(err)
				}
				w.beginOp()
				for range 4 {
					if err := errors.Join(w.opCreate(".sst", false), w.opCreate(".log", false)); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.syncDir(""); err != nil {
					t.Fatal(err)
				}
				w.endOp()
				src, _ := w.pick(func(rel string, n *ecNode) bool { return strings.HasSuffix(rel, ".sst") && w.closed(n) })
				if op == "Create" {
					// A name the epoch has given its implied IV needs a
					// synced record the second time it is created.
					nf, err := w.f.Create(ecAbs("000100.sst"), vfs.WriteCategoryUnspecified)
					if err != nil {
						t.Fatal(err)
					}
					if err := errors.Join(nf.Close(), w.f.Remove(ecAbs("000100.sst"))); err != nil {
						t.Fatal(err)
					}
				}
				armed = true
				var err error
				if op == "Create" {
					_, err = w.f.Create(ecAbs("000100.sst"), vfs.WriteCategoryUnspecified)
				} else {
					err = w.f.Rename(ecAbs(src), ecAbs("000100.sst"))
				}
				if !errors.Is(err, errorfs.ErrInjected) {
					t.Fatalf("%s with the dictionary append failing: %v, want an error wrapping errorfs.ErrInjected", op, err)
				}
				if _, err := w.mem.Stat(ecAbs("000100.sst")); err == nil {
					t.Errorf("the failed %s made 000100.sst", op)
				}
				// Nothing half-applied: every file reads back through the FS.
				for _, p := range w.verify(w.f, w.mem, []*ecState{w.state()}, false) {
					t.Errorf("through the FS after the failed %s: %s: %s", op, p.cat, p.detail)
				}
				for _, p := range w.poisonedChecks(true) {
					t.Errorf("%s: %s", p.cat, p.detail)
					if strings.Contains(p.cat, "Remove") {
						t.Log(explainFault(p.cat))
					}
				}
				if err := w.shutdown(); err != nil {
					t.Fatalf("closing: %v", err)
				}
				f, err := Open(w.mem, ecStore, w.cfg)
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				for _, p := range w.verify(f, w.mem, []*ecState{w.state()}, false) {
					t.Errorf("after reopening: %s: %s", p.cat, p.detail)
				}
				if err := ecWriteAfterCrash(f, w.mem, w.cfg); err != nil {
					t.Errorf("the reopened store does not take new files: %v", err)
				}
			})
		}
	}
}

// TestFaultRenameStat: a Rename whose source cannot be statted (an I/O
// error, not a missing file) must fail, and must not move the file without
// its entry.
func TestFaultRenameStat(t *testing.T) {
	w := newEcWork(t, 6)
	if err := errors.Join(w.open(), w.setup()); err != nil {
		t.Fatal(err)
	}
	w.beginOp()
	if err := errors.Join(w.opCreate(".sst", false), w.syncDir("")); err != nil {
		t.Fatal(err)
	}
	w.endOp()
	src, _ := w.pick(func(string, *ecNode) bool { return true })
	armed := true
	w.inject = func(op errorfs.Op) error {
		if armed && op.Kind == errorfs.OpStat && op.Path == ecAbs(src) {
			armed = false
			return errorfs.ErrInjected
		}
		return nil
	}
	renameErr := w.f.Rename(ecAbs(src), ecAbs("000100.sst"))
	w.inject = nil
	if renameErr == nil {
		// The rename went through: the model must follow it.
		w.cur["000100.sst"] = w.cur[src]
		delete(w.cur, src)
	} else if !errors.Is(renameErr, errorfs.ErrInjected) {
		t.Errorf("Rename with Stat failing: %v, want an error wrapping errorfs.ErrInjected", renameErr)
	}
	if err := w.shutdown(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(w.mem, ecStore, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	problems := w.verify(f, w.mem, []*ecState{w.state()}, false)
	for _, p := range problems {
		t.Errorf("after a Rename whose Stat failed (Rename returned %v): %s: %s", renameErr, p.cat, p.detail)
	}
	if len(problems) > 0 {
		t.Log(explainFault("failed Stat during rename"))
	}
}

// TestFaultPebble runs Pebble on the engine over errorfs with the N-th
// operation of a class failing: a table's creation, write, sync or removal
// (Pebble retries a failed flush or compaction), a dictionary log's
// creation (a rewrite, which the dictionary survives), the key registry's
// I/O (a failed rotation). Every Pebble or engine call fails cleanly or
// succeeds; after closing, the store reopens with no faults and holds every
// key whose synced Set returned, and so does a crash clone.
func TestFaultPebble(t *testing.T) {
	classes := []ftClass{
		{"table writes", func(op errorfs.Op) bool {
			return strings.HasSuffix(op.Path, ".sst") && slices.Contains([]errorfs.OpKind{errorfs.OpCreate, errorfs.OpFileWrite,
				errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpRemove}, op.Kind)
		}},
		{"dictionary rewrites", func(op errorfs.Op) bool {
			return op.Kind == errorfs.OpCreate && strings.HasPrefix(path.Base(op.Path), dictLogPrefix)
		}},
		{"key registry", ftFiles(ftRegistryFile)},
	}
	runs := 10
	if testing.Short() {
		runs = 4
	}
	for ci, c := range classes {
		t.Run(c.name, func(t *testing.T) {
			seed := uint64(200 + ci)
			total, _ := ftPebbleRun(t, c, seed, -1)
			if total == 0 {
				t.Fatalf("the workload does no %s operation", c.name)
			}
			fired := 0
			for _, n := range ftIndexes(total, runs) {
				if _, ok := ftPebbleRun(t, c, seed, n); ok {
					fired++
				}
			}
			t.Logf("%d operations of the class; failed %d of them in turn", total, fired)
			if fired == 0 {
				t.Error("no fault fired")
			}
		})
	}
}

func ftPebbleRun(t *testing.T, c ftClass, seed uint64, n int) (int, bool) {
	t.Helper()
	const dir = "/db"
	writes := 900
	if testing.Short() {
		writes = 400
	}
	mem := vfs.NewCrashableMem()
	if err := errors.Join(mem.MkdirAll(dir, 0o755), syncDir(mem, "/")); err != nil {
		t.Fatal(err)
	}
	var count atomic.Int64
	var fired atomic.Bool
	var failed atomic.Pointer[errorfs.Op]
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !c.pred(op) {
			return nil
		}
		if count.Add(1)-1 == int64(n) {
			fired.Store(true)
			failed.Store(&op)
			return errorfs.ErrInjected
		}
		return nil
	})
	where := func() string {
		s := fmt.Sprintf("seed %d, fault %d", seed, n)
		if op := failed.Load(); op != nil {
			s += " (" + ftOpString(*op) + ")"
		}
		return s
	}
	check := func(what string, err error) bool {
		t.Helper()
		if err == nil {
			return true
		}
		if !fired.Load() || !errors.Is(err, errorfs.ErrInjected) {
			t.Errorf("%s: %s: %v (want success, or an error wrapping errorfs.ErrInjected)", where(), what, err)
		}
		return false
	}
	cfg := testConfig(t, encrypting[seed%uint64(len(encrypting))])
	cfg.DictionaryRewriteThreshold = 8
	f, err := Open(errorfs.Wrap(mem, inj), dir, cfg)
	if !check("engine Open", err) {
		return int(count.Load()), fired.Load()
	}
	var corrupt atomic.Pointer[string]
	db, err := pebble.Open(dir, pbOptions(f, &corrupt))
	if !check("pebble.Open", err) {
		f.Close()
		return int(count.Load()), fired.Load()
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	var vals [][]byte
	acked := 0
	for i := range writes {
		vals = append(vals, pbValue(rng, i))
		if !check(fmt.Sprintf("set %d", i), db.Set(pbKey(i), vals[i], pebble.Sync)) {
			break
		}
		acked = i + 1
		if i%10 == 9 {
			check("flush", db.Flush())
		}
		if i%200 == 99 {
			check("RotateDataKey", f.RotateDataKey())
		}
		if i%30 == 15 {
			check("compact", db.Compact(context.Background(), []byte("key-"), []byte("key-~"), false))
		}
	}
	check("closing the DB", db.Close())
	check("closing the FS", f.Close())
	if c := corrupt.Load(); c != nil {
		t.Errorf("%s: the running DB found corruption: %s", where(), *c)
	}
	for _, p := range pbCheck(mem.CrashClone(vfs.CrashCloneCfg{}), dir, cfg, vals, acked) {
		t.Errorf("%s: in a crash clone after the fault: %s: %s", where(), p.cat, p.detail)
	}
	for _, p := range pbCheck(mem, dir, cfg, vals, acked) {
		t.Errorf("%s: on reopening after the fault: %s: %s", where(), p.cat, p.detail)
	}
	return int(count.Load()), fired.Load()
}
