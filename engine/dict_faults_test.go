package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Faults: failed appends and syncs, and a sweep of injected errors.

// faultFS fails operations of the given kinds once armed.
type faultFS struct {
	armed bool
	kinds []errorfs.OpKind
}

func (f *faultFS) MaybeError(op errorfs.Op) error {
	if f.armed && slices.Contains(f.kinds, op.Kind) {
		return errorfs.ErrInjected
	}
	return nil
}

func (f *faultFS) String() string { return "faultFS" }

// TestDictFailedAppend: a failed write or sync fails the op, names the log,
// leaves the map as it was, and fails every later write with the first
// error; reads keep working; a reopen reads every op that succeeded.
func TestDictFailedAppend(t *testing.T) {
	for _, kind := range []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileSync} {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			mem := newDictStore(t)
			inj := &faultFS{kinds: []errorfs.OpKind{kind}}
			d := mustOpenDict(t, errorfs.Wrap(mem, inj), quietOpts())
			want := make(map[string]entry)
			for i := range 3 {
				putFile(t, mem, d, shortName(i), testEntry(i))
				want[shortName(i)] = testEntry(i)
			}
			size := d.size()
			inj.armed = true
			err := d.put(shortName(0), testEntry(50))
			if !isInjected(err) || !strings.Contains(err.Error(), d.logPath()) {
				t.Fatalf("put with %v failing: %v", kind, err)
			}
			checkContents(t, d, want)
			if d.size() != size {
				t.Errorf("size() = %d after a failed append, was %d", d.size(), size)
			}
			inj.armed = false
			for _, err := range []error{
				d.put("x", testEntry(1)),
				d.move(shortName(1), "y", testEntry(1)),
				d.remove(shortName(2)),
				d.removePrefix("wal"),
			} {
				if !isInjected(err) {
					t.Fatalf("a write after a failed append: %v, want the first error", err)
				}
			}
			checkContents(t, d, want)
			mustCloseDict(t, d)
			d = mustOpenDict(t, mem, quietOpts())
			// The failed put may or may not have reached the disk; its
			// file exists (an overwrite), so either entry is possible.
			if e, _ := d.get(shortName(0)); e == testEntry(50) {
				want[shortName(0)] = testEntry(50)
			}
			checkContents(t, d, want)
			mustCloseDict(t, d)
		})
	}
}

// engineSim runs dictionary ops with the file operations the engine does
// around them, on a model of what the dictionary noErr hold.
type engineSim struct {
	fs    vfs.FS // files live here
	d     *dictionary
	want  map[string]entry
	rng   *rand.Rand
	next  int
	dirs  []string // subdirectories files are created in ("" is the store dir)
	moved string   // source of the step's move, "" if none
}

func (s *engineSim) full(rel string) string { return s.fs.PathJoin(testDictDir, rel) }

// live lists the files with entries, in a stable order for the seed.
func (s *engineSim) live() []string {
	return slices.Sorted(maps.Keys(s.want))
}

func (s *engineSim) newName() string {
	s.next++
	dir := s.dirs[s.rng.IntN(len(s.dirs))]
	if dir == "" {
		return fmt.Sprintf("%06d.sst", s.next)
	}
	return fmt.Sprintf("%s/%06d.log", dir, s.next)
}

// fill writes a little data to a file just opened for writing, syncs and
// closes it.
func (s *engineSim) fill(f vfs.File, err error) error {
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte("data")); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func (s *engineSim) syncDir(rel string) error {
	return syncDir(s.fs, s.fs.PathDir(s.full(rel)))
}

// step runs one random op. It returns the dictionary's error, if any;
// file errors are fatal.
func (s *engineSim) step(t testing.TB) error {
	t.Helper()
	s.moved = ""
	live := s.live()
	r := s.rng.IntN(100)
	switch {
	case r < 40 || len(live) < 3:
		rel := s.newName()
		e := testEntry(s.rng.IntN(1000))
		if err := s.d.put(rel, e); err != nil {
			return err
		}
		s.want[rel] = e
		noErr(t, s.fill(s.fs.Create(s.full(rel), vfs.WriteCategoryUnspecified)))
		noErr(t, s.syncDir(rel))
	case r < 55:
		s.next++
		from := live[s.rng.IntN(len(live))]
		to := sibling(from, fmt.Sprintf("%06d.renamed", s.next))
		s.moved = from
		e := s.want[from]
		if err := s.d.move(from, to, e); err != nil {
			return err
		}
		delete(s.want, from)
		s.want[to] = e
		noErr(t, s.fs.Rename(s.full(from), s.full(to)))
		noErr(t, s.syncDir(to))
	case r < 65:
		s.next++
		from := live[s.rng.IntN(len(live))]
		to := sibling(from, fmt.Sprintf("%06d.reused", s.next))
		s.moved = from
		e := testEntry(s.rng.IntN(1000))
		if err := s.d.move(from, to, e); err != nil {
			return err
		}
		delete(s.want, from)
		s.want[to] = e
		noErr(t, s.fill(s.fs.ReuseForWrite(s.full(from), s.full(to), vfs.WriteCategoryUnspecified)))
		noErr(t, s.syncDir(to))
	case r < 97:
		rel := live[s.rng.IntN(len(live))]
		noErr(t, s.fs.Remove(s.full(rel)))
		delete(s.want, rel)
		return s.d.remove(rel)
	default:
		if len(s.dirs) < 2 {
			return nil
		}
		i := 1 + s.rng.IntN(len(s.dirs)-1)
		dir := s.dirs[i]
		noErr(t, s.fs.RemoveAll(s.full(dir)))
		for rel := range s.want {
			if strings.HasPrefix(rel, dir+"/") {
				delete(s.want, rel)
			}
		}
		s.next++
		fresh := fmt.Sprintf("wal%d", s.next)
		if strings.HasPrefix(dir, "../") {
			fresh = "../" + fresh
		}
		s.dirs[i] = fresh
		noErr(t, s.fs.MkdirAll(s.full(fresh), 0o755))
		noErr(t, syncDir(s.fs, s.fs.PathDir(s.full(fresh))))
		return s.d.removePrefix(dir)
	}
	return nil
}

// sibling names a file in rel's directory.
func sibling(rel, name string) string {
	return rel[:strings.LastIndexByte(rel, '/')+1] + name
}

// isInjected reports whether err is errorfs's isInjected error. (errors.Is
// does not match it once the injector has a predicate.)
func isInjected(err error) bool {
	var le errorfs.LabelledError
	return errors.As(err, &le) && le.Label == errorfs.ErrInjected.Label
}

func newEngineSim(t testing.TB, fs vfs.FS, seed uint64) *engineSim {
	s := &engineSim{fs: fs, want: make(map[string]entry), rng: rand.New(rand.NewPCG(seed, 1)), dirs: []string{"", "wal0", "../other0"}}
	for _, dir := range s.dirs {
		noErr(t, fs.MkdirAll(s.full(dir), 0o755))
	}
	noErr(t, syncDir(fs, "/"))
	noErr(t, syncDir(fs, testDictDir))
	return s
}

// TestDictFaultSweep fails the dictionary's n-th write operation (log
// writes and syncs, log creation, directory syncs, marker moves), for every
// n over a run that rewrites the log several times. Each op either succeeds
// or fails with the isInjected error; after a failed append every later write
// fails; the map always matches what succeeded; and a reopen on the
// underlying FS reads exactly that.
func TestDictFaultSweep(t *testing.T) {
	const steps = 60
	var rewriteFailed, markerFailed int
	for n := int32(0); ; n++ {
		mem := vfs.NewMem()
		noErr(t, mem.MkdirAll(testDictDir, 0o755))
		fired := false
		idx := errorfs.ErrInjected.If(errorfs.And(errorfs.Writes, errorfs.OnIndex(n)))
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			err := idx.MaybeError(op)
			fired = fired || err != nil
			return err
		})
		efs := errorfs.Wrap(mem, inj)
		var logs syncLogBuffer
		opts := dictOptions{RewriteThreshold: 6, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		d := mustRead(t, efs, opts)
		if err := d.start(false); err != nil {
			if !isInjected(err) {
				t.Fatalf("n=%d: start: %v", n, err)
			}
			d.close()
			d = mustOpenDict(t, mem, quietOpts())
			checkContents(t, d, map[string]entry{})
			d.close()
			continue
		}
		sim := newEngineSim(t, mem, 1)
		sim.d = d
		failed := false
		for range steps {
			before := maps.Clone(sim.want)
			err := sim.step(t)
			if err != nil {
				if !isInjected(err) {
					t.Fatalf("n=%d: %v", n, err)
				}
				failed = true
				// The engine's order: a failed put creates nothing, a
				// failed move renames nothing; removals happened first.
				sim.want = before
				for rel := range before {
					if _, err := mem.Stat(sim.full(rel)); err != nil {
						delete(sim.want, rel)
					}
				}
			} else if failed {
				t.Fatalf("n=%d: a write succeeded after a failed one", n)
			}
			if !maps.Equal(dictContents(d), sim.want) {
				// A failed remove's file is gone but its entry stays
				// until the reopen: compare on files that exist.
				got := dictContents(d)
				for rel := range got {
					if _, err := mem.Stat(sim.full(rel)); err != nil {
						delete(got, rel)
					}
				}
				if !maps.Equal(got, sim.want) {
					t.Fatalf("n=%d: map %v, want %v", n, got, sim.want)
				}
			}
		}
		d.close()
		if !fired {
			// The sweep noErr have failed a rewrite after its append (the
			// old log stays current) and a marker move (writes stop).
			if n < 100 || rewriteFailed == 0 || markerFailed == 0 {
				t.Fatalf("%d write ops in %d steps; %d failed rewrites, %d failed marker moves", n, steps, rewriteFailed, markerFailed)
			}
			return
		}
		if strings.Contains(logs.String(), "rewriting the file dictionary failed") {
			rewriteFailed++
		}
		if d.err != nil && strings.Contains(d.err.Error(), "switching") {
			markerFailed++
		}
		d = mustOpenDict(t, mem, quietOpts())
		checkContents(t, d, withMissingDirs(mem, dictContents(d), sim.want))
		d.close()
	}
}

// withMissingDirs returns want plus the entries of got whose directory is
// gone: a RemoveAll whose record failed or was lost leaves them, and an
// open keeps them since it cannot tell a removed directory from an
// unmounted one.
func withMissingDirs(fs vfs.FS, got, want map[string]entry) map[string]entry {
	out := maps.Clone(want)
	for rel, e := range got {
		if _, err := fs.Stat(fs.PathJoin(testDictDir, splitRel(rel))); err != nil {
			out[rel] = e
		}
	}
	return out
}

// TestDictMarkerSyncFails: atomicfs panics when syncing the directory
// fails in a marker move. The rewrite's append still succeeds, the process
// survives, later writes fail, and a reopen reads everything.
func TestDictMarkerSyncFails(t *testing.T) {
	mem := newDictStore(t)
	dirSyncs := 0
	efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileSync && op.Path == testDictDir {
			// Syncs 1 and 2 are the first log's creation, 3 the
			// rewrite's own, 4 the rewrite's marker move.
			if dirSyncs++; dirSyncs == 4 {
				return errorfs.ErrInjected
			}
		}
		return nil
	}))
	d := mustOpenDict(t, efs, dictOptions{RewriteThreshold: 4, Logger: quietOpts().Logger})
	want := make(map[string]entry)
	for i := 0; dirSyncs < 4; i++ {
		if i > 10 {
			t.Fatal("no rewrite")
		}
		putFile(t, mem, d, shortName(i%2), testEntry(i))
		want[shortName(i%2)] = testEntry(i)
	}
	if err := d.put("x", testEntry(1)); !isInjected(err) {
		t.Fatalf("put after a failed marker move: %v", err)
	}
	checkContents(t, d, want)
	d.close()
	d = mustOpenDict(t, mem, quietOpts())
	checkContents(t, d, want)
	d.close()
}
