package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// ---------------------------------------------------------------------------
// Level B: Pebble.

type pbStats struct {
	points, runs, writes, reused, flushes, compactions, rotations int
}

func pbKey(i int) []byte { return fmt.Appendf(nil, "key-%07d", i) }

func pbIndex(k []byte) (int, bool) {
	if !bytes.HasPrefix(k, []byte("key-")) {
		return 0, false
	}
	i, err := strconv.Atoi(string(k[4:]))
	return i, err == nil
}

func pbValue(rng *rand.Rand, i int) []byte {
	b := fmt.Appendf(nil, "value-%07d-", i)
	for range 200 + rng.IntN(1000) {
		b = append(b, byte('a'+rng.IntN(26)))
	}
	return b
}

// pbOptions are small memtables, so WALs roll (and are recycled) and
// flushes happen often. Corruption Pebble finds is kept in corrupt rather
// than a Fatalf (a panic in a background goroutine, with quietLogger).
func pbOptions(fs vfs.FS, corrupt *atomic.Pointer[string]) *pebble.Options {
	o := pebbleOptions(fs)
	o.MemTableSize = 256 << 10
	o.L0CompactionThreshold = 2
	o.EventListener = &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		s := fmt.Sprintf("%s: %v", info.Path, info.Details)
		corrupt.CompareAndSwap(nil, &s)
	}}
	return o
}

// TestCrashPebble runs Pebble on the FS over a crashable MemFS: synced
// writes interleaved with flushes, compactions and data-key rotations, with
// the WALs recycled (ReuseForWrite). (Re-encryption is left to
// TestCrashPebbleReencrypt, which fails on its own bug.) At
// random moments the writer takes a crash clone while Pebble's flushes and
// compactions go on; each clone must open (engine, then Pebble) and hold
// every key whose synced Set returned before it.
func TestCrashPebble(t *testing.T) {
	_, target := ecBudget(t)
	start := time.Now()
	rep := newEcReport()
	var st pbStats
	for seed := uint64(1); st.points < target; seed++ {
		pbRun(t, seed, target, &st, rep)
	}
	t.Logf("%d crash points over %d runs in %v: %d synced writes, %d WALs recycled, %d flushes, %d compactions, %d rotations",
		st.points, st.runs, time.Since(start).Round(time.Millisecond), st.writes, st.reused, st.flushes, st.compactions, st.rotations)
	if st.reused == 0 {
		t.Error("no WAL was recycled: the run does not cover ReuseForWrite")
	}
	rep.finish(t)
}

func pbRun(t *testing.T, seed uint64, target int, st *pbStats, rep *ecReport) {
	const dir = "/db"
	const writes = 1500
	st.runs++
	mem := vfs.NewCrashableMem()
	if err := errors.Join(mem.MkdirAll(dir, 0o755), syncDir(mem, "/")); err != nil {
		t.Fatal(err)
	}
	var reuses atomic.Int64
	base := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpReuseForWrite {
			reuses.Add(1)
		}
		return nil
	}))
	cfg := testConfig(t, encrypting[seed%uint64(len(encrypting))])
	cfg.DictionaryRewriteThreshold = 16
	f := mustOpen(t, base, dir, cfg)
	var corrupt atomic.Pointer[string]
	db, err := pebble.Open(dir, pbOptions(f, &corrupt))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	crng := rand.New(rand.NewPCG(seed, 4))
	var vals [][]byte
	var hist []string
	note := func(s string) {
		if hist = append(hist, s); len(hist) > 8 {
			hist = hist[1:]
		}
	}
	var k uint64
	for i := 0; i < writes && st.points < target; i++ {
		vals = append(vals, pbValue(rng, i))
		if err := db.Set(pbKey(i), vals[i], pebble.Sync); err != nil {
			t.Fatalf("seed %d: set %d: %v", seed, i, err)
		}
		st.writes++
		switch r := rng.IntN(1000); {
		case r < 6:
			note(fmt.Sprintf("flush after key %d", i))
			if err := db.Flush(); err != nil {
				t.Fatalf("seed %d: flush: %v", seed, err)
			}
			st.flushes++
		case r < 9:
			note(fmt.Sprintf("compact after key %d", i))
			if err := db.Compact(context.Background(), []byte("key-"), []byte("key-~"), false); err != nil {
				t.Fatalf("seed %d: compact: %v", seed, err)
			}
			st.compactions++
		case r < 14:
			note(fmt.Sprintf("rotate after key %d", i))
			if err := f.RotateDataKey(); err != nil {
				t.Fatalf("seed %d: rotate: %v", seed, err)
			}
			st.rotations++
		}
		if crng.IntN(100) < 3 {
			k++
			pct := []int{0, 0, 30, 70, 100}[crng.IntN(5)]
			clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(seed, k))})
			where := fmt.Sprintf("seed %d, crash point %d after key %d (%d%% of unsynced data kept); recent: %s", seed, k, i, pct, strings.Join(hist, "; "))
			for _, p := range pbCheck(clone, dir, cfg, vals, i+1) {
				rep.add(p, where)
			}
			st.points++
		}
	}
	st.reused += int(reuses.Load())
	if c := corrupt.Load(); c != nil {
		t.Errorf("seed %d: the running DB found corruption: %s", seed, *c)
	}
	if err := db.Close(); err != nil {
		t.Errorf("seed %d: closing the DB: %v", seed, err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("seed %d: closing the FS: %v", seed, err)
	}
}

// pbScan reads every key of db: keys below acked must be there with their
// values, and any other key must have its own value.
func pbScan(db *pebble.DB, vals [][]byte, acked int) error {
	it, err := db.NewIter(nil)
	if err != nil {
		return err
	}
	seen := 0
	var bad error
	for valid := it.First(); valid; valid = it.Next() {
		i, ok := pbIndex(it.Key())
		if !ok || i >= len(vals) {
			bad = fmt.Errorf("unknown key %q", it.Key())
			break
		}
		if !bytes.Equal(it.Value(), vals[i]) {
			bad = fmt.Errorf("key %d has a wrong value (%d bytes)", i, len(it.Value()))
			break
		}
		if i < acked {
			seen++
		}
	}
	if err := errors.Join(bad, it.Error(), it.Close()); err != nil {
		return err
	}
	if seen != acked {
		return fmt.Errorf("%d of the %d keys whose synced Set returned are missing", acked-seen, acked)
	}
	return nil
}

// pbCheck opens the engine and Pebble on a crash clone and scans the keys.
func pbCheck(clone *vfs.MemFS, dir string, cfg Config, vals [][]byte, acked int) (out []ecProblem) {
	defer func() {
		if r := recover(); r != nil { // quietLogger.Fatalf on this goroutine
			out = append(out, ecProblem{cat: "Pebble fails fatally on a crash clone", detail: fmt.Sprint(r)})
		}
	}()
	f, err := Open(clone, dir, cfg)
	if err != nil {
		return []ecProblem{{cat: "engine Open fails after a crash", detail: err.Error()}}
	}
	defer f.Close()
	var corrupt atomic.Pointer[string]
	o := pbOptions(f, &corrupt)
	o.DisableAutomaticCompactions = true // nothing runs behind the scan
	db, err := pebble.Open(dir, o)
	if err != nil {
		return []ecProblem{{cat: "pebble.Open fails after a crash", detail: err.Error()}}
	}
	if err := pbScan(db, vals, acked); err != nil {
		out = append(out, ecProblem{cat: "synced keys lost or wrong after a crash", detail: err.Error()})
	}
	if err := db.Close(); err != nil {
		out = append(out, ecProblem{cat: "closing Pebble on a crash clone fails", detail: err.Error()})
	}
	if c := corrupt.Load(); c != nil {
		out = append(out, ecProblem{cat: "Pebble finds corruption on a crash clone", detail: *c})
	}
	return out
}

// TestCrashPebbleReencrypt: Reencrypt on a running Pebble store, then a
// crash before anything else syncs the directory: the store must open with
// every key flushed before.
func TestCrashPebbleReencrypt(t *testing.T) {
	const dir = "/db"
	mem := vfs.NewCrashableMem()
	if err := errors.Join(mem.MkdirAll(dir, 0o755), syncDir(mem, "/")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, keys.MethodAES256CTR)
	f := mustOpen(t, mem, dir, cfg)
	defer f.Close()
	var corrupt atomic.Pointer[string]
	o := pbOptions(f, &corrupt)
	o.DisableAutomaticCompactions = true // no table is being written while Reencrypt runs
	db, err := pebble.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	var vals [][]byte
	for i := range 2000 {
		vals = append(vals, pbValue(rng, i))
		if err := db.Set(pbKey(i), vals[i], pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	var p Progress
	if err := f.Reencrypt(context.Background(), func(q Progress) { p = q }); err != nil {
		t.Fatal(err)
	}
	if p.FilesDone == 0 {
		t.Fatal("Reencrypt rewrote nothing")
	}
	if err := pbScan(db, vals, len(vals)); err != nil {
		t.Fatalf("the running DB after Reencrypt: %v", err)
	}
	problems := pbCheck(mem.CrashClone(vfs.CrashCloneCfg{}), dir, cfg, vals, len(vals))
	for _, pr := range problems {
		t.Errorf("after Reencrypt (%d files rewritten) and a crash: %s: %s", p.FilesDone, pr.cat, pr.detail)
	}
	if len(problems) > 0 {
		t.Log(explainCrash("reencrypt"))
	}
}
