package engine

import (
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// crashPoints is how many crash clones TestDictCrash checks: a few hundred
// by default, TDE_CRASH_POINTS to run more (make crash).
func crashPoints(t *testing.T) int {
	if s := os.Getenv("TDE_CRASH_POINTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TDE_CRASH_POINTS=%q: want a positive count", s)
		}
		return n
	}
	if testing.Short() {
		return 100
	}
	return 300
}

type crashStats struct {
	points, torn, undone, collected, rewrites int
}

// TestDictCrash runs random sequences of put, rename, reuse, remove and
// removePrefix, with the file operations in the engine's order (the entry
// durable before the file is created or renamed, dropped after it is
// removed), and crashes the machine at random write operations: a crash
// clone keeps what was synced and a random part of what was not. Each clone
// noErr open and start, and reflect every op that returned before the crash:
// an existing file that was put has exactly its entry; the source of a move
// whose renameRel was not done keeps its entry; nothing has an entry without a
// file. Appends after the crash read back after another reopen.
func TestDictCrash(t *testing.T) {
	target := crashPoints(t)
	var st crashStats
	for seed := uint64(1); st.points < target; seed++ {
		crashRun(t, seed, target, &st)
	}
	t.Logf("%d crash points: %d torn tails dropped, %d opens undid moves, %d collected entries, %d rewrites",
		st.points, st.torn, st.undone, st.collected, st.rewrites)
	// The run noErr reach the cases it exists for.
	if st.torn == 0 || st.undone == 0 || st.collected == 0 || st.rewrites == 0 {
		t.Errorf("crash run missed a case: %+v", st)
	}
}

// crashSim extends engineSim with what a crash check needs: every name
// ever used, and the step's put and move destination.
type crashSim struct {
	*engineSim
	seen map[string]bool
}

func crashRun(t *testing.T, seed uint64, target int, st *crashStats) {
	const steps = 150
	mem := vfs.NewCrashableMem()
	crng := rand.New(rand.NewPCG(seed, 99))
	var clones []*vfs.MemFS
	var sim *crashSim
	hook := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if sim == nil || st.points+len(clones) >= target || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
			return nil
		}
		if op.Kind == errorfs.OpFileSync && sim.d != nil && op.Path == sim.d.logPath() && crng.IntN(100) < 20 {
			// An append's record is written, not yet synced.
			clones = append(clones, tornClone(t, mem, op.Path, sim.d.size(), crng))
		} else if crng.IntN(100) < 12 {
			pct := []int{0, 0, 30, 60, 90, 100}[crng.IntN(6)]
			clones = append(clones, mem.CrashClone(vfs.CrashCloneCfg{
				UnsyncedDataPercent: pct,
				RNG:                 rand.New(rand.NewPCG(crng.Uint64(), 0)),
			}))
		}
		return nil
	})
	efs := errorfs.Wrap(mem, hook)
	es := newEngineSim(t, efs, seed)
	sim = &crashSim{engineSim: es, seen: make(map[string]bool)}
	d := mustOpenDict(t, efs, dictOptions{RewriteThreshold: 12, Logger: quietOpts().Logger})
	sim.d = d
	check := func(before map[string]entry, put, movedTo string) {
		for _, c := range clones {
			checkCrash(t, c, sim, before, put, movedTo, st)
			st.points++
		}
		clones = clones[:0]
	}
	check(map[string]entry{}, "", "")

	for range steps {
		if st.points >= target {
			break
		}
		before := maps.Clone(sim.want)
		log := d.logPath()
		if err := sim.step(t); err != nil {
			t.Fatal(err)
		}
		put, movedTo := "", ""
		for rel := range sim.want {
			if _, ok := before[rel]; !ok {
				sim.seen[rel] = true
				if sim.moved == "" {
					put = rel
				} else {
					movedTo = rel
				}
			}
		}
		if d.logPath() != log {
			st.rewrites++
		}
		check(before, put, movedTo)
	}
	mustCloseDict(t, d)
}

// tornClone is a crash clone in which the disk kept only part of the log's
// unsynced tail, past synced: a prefix of it, a prefix with zeros for the
// rest, or zeros with a later fragment. CrashClone alone rarely tears a
// record: it keeps or drops whole 4 KiB pages.
func tornClone(t *testing.T, mem *vfs.MemFS, path string, synced int64, rng *rand.Rand) *vfs.MemFS {
	c := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
	data := readBytes(t, c, path)
	if int64(len(data)) <= synced {
		return c
	}
	cut := synced + rng.Int64N(int64(len(data))-synced)
	switch rng.IntN(3) {
	case 0:
		data = data[:cut]
	case 1:
		clear(data[cut:])
	case 2:
		frag := cut + rng.Int64N(int64(len(data))-cut)
		clear(data[cut:frag])
	}
	f, err := c.Create(path, vfs.WriteCategoryUnspecified)
	noErr(t, err)
	_, err = f.Write(data)
	noErr(t, err)
	noErr(t, f.Sync())
	noErr(t, f.Close())
	return c
}

// checkCrash opens the dictionary on a crash clone taken during a step that
// went from before to sim.want.
func checkCrash(t *testing.T, fs *vfs.MemFS, sim *crashSim, before map[string]entry, put, movedTo string, st *crashStats) {
	t.Helper()
	after := sim.want
	var logs syncLogBuffer
	d, err := readDictionary(fs, testDictDir, dictOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open after a crash: %v", err)
	}
	if err := d.start(false); err != nil {
		t.Fatalf("start after a crash: %v", err)
	}
	if l := logs.String(); l != "" {
		st.torn += strings.Count(l, "torn")
		st.undone += strings.Count(l, "undid")
		st.collected += strings.Count(l, "no longer exist")
	}
	exists := func(rel string) bool {
		_, err := fs.Stat(fs.PathJoin(testDictDir, rel))
		return err == nil
	}
	d.each(func(rel string, e entry) {
		// A directory removed before its removal was recorded keeps its
		// entries: an open cannot tell it from an unmounted one.
		if !exists(rel) && exists(splitRel(rel)) {
			t.Errorf("entry for %s, which does not exist", rel)
		}
	})
	for rel := range sim.seen {
		if !exists(rel) {
			continue
		}
		got, ok := d.get(rel)
		b, hadB := before[rel]
		a, hasA := after[rel]
		var good bool
		var want string
		switch {
		case rel == sim.moved:
			// The move's source is still there: the renameRel did not
			// happen (or was not durable), and the move is undone.
			good, want = ok && got == b, "its entry before the move"
		case rel == movedTo && exists(sim.moved):
			// A MemFS crash clone can keep both names of a renameRel whose
			// directory was not synced; the source has the file's entry.
			continue
		case rel == put || rel == movedTo:
			// The file exists: its record was synced before it was
			// created or renamed into place.
			good, want = ok && got == a, "the entry put"
		case hadB == hasA && b == a:
			// Untouched by the step: exactly as the model says,
			// including no entry for a file removed earlier whose
			// removal was not durable.
			good, want = ok == hasA && got == a, "the model's entry"
		default:
			// Removed in this step: the record may or may not be there.
			good, want = !ok || got == b, "its entry or none"
		}
		if !good {
			t.Fatalf("after a crash, %s has %v (present %v), want %s: before %v, after %v", rel, got, ok, want, b, a)
		}
	}

	// The recovered dictionary takes appends that survive a reopen.
	snapshot := dictContents(d)
	e := testEntry(7)
	if err := d.put("after-crash.sst", e); err != nil {
		t.Fatalf("put after a crash: %v", err)
	}
	touchRel(t, fs, "after-crash.sst")
	mustCloseDict(t, d)
	snapshot["after-crash.sst"] = e
	d = mustRead(t, fs, quietOpts())
	checkContents(t, d, snapshot)
	d.close()
}

// TestDictRewriteCrash crashes at every write operation of a rewrite
// (creating and syncing the new log, syncing the directory, moving the
// marker, removing the old log), several clones each, keeping a random part
// of what was not synced. Every clone opens, holding the dictionary as it
// was before the append that triggered the rewrite or after it. This fails
// if the new log's directory entry is not durable before the marker names
// it.
func TestDictRewriteCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	noErr(t, mem.MkdirAll(testDictDir, 0o755))
	noErr(t, syncDir(mem, "/"))
	crng := rand.New(rand.NewPCG(7, 7))
	var clones []*vfs.MemFS
	armed := false
	efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			for range 10 {
				clones = append(clones, mem.CrashClone(vfs.CrashCloneCfg{
					UnsyncedDataPercent: []int{30, 50, 70}[crng.IntN(3)],
					RNG:                 rand.New(rand.NewPCG(crng.Uint64(), 0)),
				}))
			}
		}
		return nil
	}))
	d := mustOpenDict(t, efs, dictOptions{RewriteThreshold: 4, Logger: quietOpts().Logger})
	for i := range 2 {
		noErr(t, d.put(shortName(i), testEntry(i)))
		touchRel(t, mem, shortName(i))
		f, err := mem.Open(mem.PathJoin(testDictDir, shortName(i)))
		noErr(t, err)
		noErr(t, f.Sync())
		f.Close()
	}
	noErr(t, syncDir(mem, testDictDir))
	for d.appended < 4 {
		noErr(t, d.put(shortName(0), testEntry(10)))
	}
	before := dictContents(d)
	armed = true
	noErr(t, d.put(shortName(1), testEntry(11))) // appends, then rewrites
	armed = false
	after := dictContents(d)
	if d.logPath() == testDictDir+"/TDE-DICT-000001" {
		t.Fatal("the put did not rewrite the log")
	}
	mustCloseDict(t, d)
	for i, c := range clones {
		d, err := readDictionary(c, testDictDir, quietOpts())
		if err != nil {
			t.Fatalf("clone %d of %d: %v", i, len(clones), err)
		}
		if got := dictContents(d); !maps.Equal(got, before) && !maps.Equal(got, after) {
			t.Fatalf("clone %d: %v, want %v or %v", i, got, before, after)
		}
		noErr(t, d.start(false))
		d.close()
	}
}
