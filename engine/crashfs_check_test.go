package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Checking a crash clone against the model of TestCrashFS.

// ecMatch reports whether c, a file's contents read through the engine (raw
// as stored), can be node n after a crash that kept need bytes of it: those
// read back exactly; past them each byte is what was written or, in a crash
// clone, a zero-filled hole the crash left (raw zero) that decrypts to
// keystream. exact: no holes (the FS was not crashed). A reused log's tail
// may be the older log's.
func ecMatch(c, raw []byte, n *ecNode, need int, exact bool) bool {
	if len(c) < need || !bytes.Equal(c[:need], n.data[:need]) {
		return false
	}
	limit := len(c)
	switch {
	case n.reused && !exact:
		return true
	case n.reused:
		limit = min(len(c), len(n.data))
	case len(c) > len(n.data):
		return false
	}
	for i := need; i < limit; i++ {
		if c[i] != n.data[i] && (exact || i >= len(raw) || raw[i] != 0) {
			return false
		}
	}
	return true
}

// ecCand is a state a name may be in after a crash: node n with need bytes
// durable, or absent (n nil).
type ecCand struct {
	n    *ecNode
	need int
}

func candidates(rel string, states []*ecState, crash bool) []ecCand {
	var cs []ecCand
	add := func(n *ecNode, need int) {
		if c := (ecCand{n: n, need: need}); !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	for _, s := range states {
		if crash {
			ds := s.dur[rel]
			if len(ds) == 0 {
				ds = []*ecNode{nil}
			}
			for _, d := range ds {
				add(d, s.need[d])
			}
			if c := s.cur[rel]; c != nil {
				add(c, s.need[c]) // an unsynced entry the crash kept
			}
		} else if c := s.cur[rel]; c != nil {
			add(c, c.minLen)
		} else {
			add(nil, 0)
		}
		for _, u := range s.unc[rel] {
			if u == nil {
				add(nil, 0)
			} else if crash {
				add(u, s.need[u])
			} else {
				add(u, u.minLen)
			}
		}
	}
	return cs
}

// verify checks the store on fsys, opened as f, against the model states:
// every name that must exist exists and reads back one of its candidate
// contents, nothing else is there, and no re-encryption copy is left.
func (w *ecWork) verify(f *FS, fsys vfs.FS, states []*ecState, crash bool) []ecProblem {
	var out []ecProblem
	present := map[string]bool{}
	for _, d := range ecDirs {
		names, err := fsys.List(ecDirPath(d))
		if d != "" && oserror.IsNotExist(err) {
			continue // a fault stopped the run before setup made it
		}
		if err != nil {
			out = append(out, ecProblem{cat: "cannot list the store", detail: err.Error()})
			continue
		}
		for _, n := range names {
			if d == "" && (n == "wal" || reserved(n)) || d == ecOutside && (n == dirIDFile || n == dirIDTemp) {
				continue
			}
			rel := n
			if d != "" {
				rel = d + "/" + n
			}
			present[rel] = true
		}
	}
	all := maps.Clone(present)
	for _, s := range states {
		for rel := range s.cur {
			all[rel] = true
		}
		for _, m := range []map[string][]*ecNode{s.dur, s.unc} {
			for rel := range m {
				all[rel] = true
			}
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(all)) {
		cs := candidates(rel, states, crash)
		canBeAbsent := slices.ContainsFunc(cs, func(c ecCand) bool { return c.n == nil })
		cause, ops := w.cause(rel, states)
		switch {
		case strings.HasSuffix(rel, reencryptSuffix):
			if present[rel] {
				out = append(out, ecProblem{cat: "a re-encryption copy survives Open", detail: rel})
			}
			continue
		case !present[rel]:
			if !canBeAbsent {
				out = append(out, ecProblem{cat: "a durable file is missing" + cause, detail: rel + ops})
			}
			continue
		case len(cs) == 1 && canBeAbsent:
			out = append(out, ecProblem{cat: "a file the workload never made exists", detail: rel})
			continue
		}
		c, err := ecReadFile(f, ecAbs(rel))
		both := ""
		if crash {
			both = w.bothNames(rel, present, states)
		}
		if err != nil {
			switch {
			case both != "":
				out = append(out, ecProblem{cat: "MemFS kept both names of an unsynced rename; the destination is unreadable", tolerated: true, detail: both})
			case errors.Is(err, ErrMissingEntry) && strings.HasPrefix(rel, ecOutside+"/") && w.bothNamesSource(rel, present, states) != "" &&
				states[len(states)-1].cur[rel] == nil && w.gone(rel, cs, states[len(states)-1], present):
				// Outside the store an open cannot remove the old name
				// (adoptDir): it stays, with no entry, for Pebble to delete.
				out = append(out, ecProblem{cat: "MemFS kept both names of an unsynced rename outside the store; the old name stays with no entry", tolerated: true, detail: w.bothNamesSource(rel, present, states)})
			case errors.Is(err, ErrMissingEntry) && states[len(states)-1].cur[rel] == nil && w.gone(rel, cs, states[len(states)-1], present):
				// The caller removed the file; its removal (perhaps after a
				// rename) was not durable, and the engine dropped the entry
				// first. A clean error for a file nobody reads.
				out = append(out, ecProblem{cat: "a removed file came back (its removal was not durable) and opens with ErrMissingEntry", tolerated: true, detail: rel + ops})
			case errors.Is(err, ErrMissingEntry) && states[len(states)-1].cur[rel] == nil:
				out = append(out, ecProblem{cat: "a file the caller still has is lost: the only name it has after the crash has no entry" + cause, detail: fmt.Sprintf("%s%s: %v", rel, ops, err)})
			default:
				out = append(out, ecProblem{cat: "cannot open a file" + cause, detail: fmt.Sprintf("%s%s: %v", rel, ops, err)})
			}
			continue
		}
		raw, err := ecReadFile(fsys, ecAbs(rel))
		if err != nil {
			out = append(out, ecProblem{cat: "cannot read a file raw", detail: fmt.Sprintf("%s: %v", rel, err)})
			continue
		}
		ok := false
		var want []string
		for _, cand := range cs {
			if cand.n == nil {
				continue
			}
			if ecMatch(c, raw, cand.n, cand.need, !crash) {
				ok = true
				break
			}
			want = append(want, fmt.Sprintf("node %d (%d bytes written, %d durable; first difference at %d)",
				cand.n.id, len(cand.n.data), cand.need, firstDiff(c, cand.n.data)))
		}
		if !ok {
			if both != "" {
				out = append(out, ecProblem{cat: "MemFS kept both names of an unsynced rename; the destination reads the wrong entry", tolerated: true, detail: both})
				continue
			}
			out = append(out, ecProblem{cat: "a file reads garbage" + cause,
				detail: fmt.Sprintf("%s%s: %d bytes read, want one of %s", rel, ops, len(c), strings.Join(want, ", "))})
		}
	}
	return out
}

// gone reports whether the file a crash left under rel, a name the caller
// renamed or removed since, is not lost with it: the caller removed the
// file, or it is in the clone under a name it has now.
func (w *ecWork) gone(rel string, cs []ecCand, last *ecState, present map[string]bool) bool {
	for _, c := range cs {
		for other, n := range last.cur {
			// (A name a failed op may have removed does not count.)
			if c.n != nil && n == c.n && !present[other] && !slices.Contains(last.unc[other], nil) {
				return false
			}
		}
	}
	return true
}

// cause describes the unsynced namespace ops on rel, for the report: a
// category and the ops.
func (w *ecWork) cause(rel string, states []*ecState) (string, string) {
	for _, s := range slices.Backward(states) {
		if ops := s.labels[rel]; len(ops) > 0 {
			all := fmt.Sprintf(" (unsynced ops on it: %s)", strings.Join(ops, ", "))
			if slices.Contains(ops, "reencrypt") {
				return " after an unsynced reencrypt", all // the root of what follows
			}
			return " after an unsynced " + ops[len(ops)-1], all
		}
	}
	if op := w.opTouch[rel]; op != "" {
		return " during a " + op, ""
	}
	return " (no unsynced namespace change on it)", ""
}

// bothNames reports a destination of an unsynced rename whose source is in
// the clone too. MemFS keeps a synced entry and adds unsynced ones at
// random, so a crash clone can hold both names of one rename; a journaling
// filesystem never does, and the engine gives the source the entry.
func (w *ecWork) bothNames(rel string, present map[string]bool, states []*ecState) string {
	ms := []map[string]string{w.moves, w.opMoves}
	for _, s := range states {
		ms = append(ms, s.moves)
	}
	for _, m := range ms {
		if src, ok := m[rel]; ok && present[src] {
			return fmt.Sprintf("%s (renamed from %s)", rel, src)
		}
	}
	return ""
}

// bothNamesSource reports a source of an unsynced rename whose
// destination is in the clone too: bothNames seen from the old name.
func (w *ecWork) bothNamesSource(rel string, present map[string]bool, states []*ecState) string {
	ms := []map[string]string{w.moves, w.opMoves}
	for _, s := range states {
		ms = append(ms, s.moves)
	}
	for _, m := range ms {
		for dst, src := range m {
			if src == rel && present[dst] {
				return fmt.Sprintf("%s (renamed to %s)", rel, dst)
			}
		}
	}
	return ""
}

// checkClone opens the engine on a crash clone and checks it against the
// model; sometimes it also writes to the recovered store and reopens it.
func (w *ecWork) checkClone(c ecClone, states []*ecState, label string, rep *ecReport) {
	where := fmt.Sprintf("seed %d, crash point %d (%s, %d%% of unsynced data kept)%s", w.seed, c.k, label, c.pct, w.history())
	if w.trace {
		w.t.Logf("seed %d: crash point %d (%s, %d%%)", w.seed, c.k, label, c.pct)
	}
	cfg := w.cfg
	if w.trace {
		cfg.Logger = slog.New(slog.NewTextHandler(ecLogWriter{w.t}, nil))
	}
	f, err := Open(c.fs, ecStore, cfg)
	if err != nil {
		rep.add(ecProblem{cat: "Open fails after a crash", detail: err.Error()}, where)
		return
	}
	for _, p := range w.verify(f, c.fs, states, true) {
		rep.add(p, where)
	}
	if w.crng.IntN(4) == 0 {
		if err := ecWriteAfterCrash(f, c.fs, w.cfg); err != nil {
			rep.add(ecProblem{cat: "the recovered store does not take new files", detail: err.Error()}, where)
		}
		return
	}
	if err := f.Close(); err != nil {
		rep.add(ecProblem{cat: "Close fails after a crash", detail: err.Error()}, where)
	}
}

// ecWriteAfterCrash writes a file to a recovered store, closes and reopens
// it, and reads the file back.
func ecWriteAfterCrash(f *FS, fsys vfs.FS, cfg Config) error {
	name := ecAbs("after-crash.log")
	want := bytes.Repeat([]byte("after the crash "), 700)
	wf, err := f.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		f.Close()
		return err
	}
	_, err = wf.Write(bytes.Clone(want))
	err = errors.Join(err, wf.Sync(), wf.Close(), syncDir(f, ecStore), f.Close())
	if err != nil {
		return err
	}
	f, err = Open(fsys, ecStore, cfg)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := ecReadFile(f, name)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s reads back %d bytes, not the %d written", name, len(got), len(want))
	}
	return nil
}

// ecLogWriter sends the engine's log lines to the test log (TDE_CRASH_SEED).
type ecLogWriter struct{ t testing.TB }

func (w ecLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
