package engine

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Crash tests: the encrypting FS over vfs.NewCrashableMem, cloned as a crash
// would leave it (vfs.MemFS.CrashClone: every synced byte and synced
// directory entry, and a random part of the rest), then opened again. Two
// levels:
//
//   - TestCrashFS drives the FS directly with a seeded random workload
//     (create, write, sync, rename, link, remove, reuse, open for writing,
//     data-key rotation, re-encryption, reopen), keeps a model of what is
//     durable, and checks every clone against it: the engine opens, every
//     file whose name and bytes were durable reads back exactly its synced
//     bytes, and no file reads garbage.
//   - TestCrashPebble runs Pebble on the FS, with synced writes, flushes,
//     compactions, rotations and recycled WALs, and checks that every clone
//     opens (engine and Pebble) and holds every key whose synced Set
//     returned before the clone.
//
// TDE_CRASH_POINTS sets the number of crash points of both together (two
// thirds for TestCrashFS, one third for TestCrashPebble); the default is
// 600, 120 with -short. TDE_CRASH_SEED=n reruns one TestCrashFS run of a
// report, logging every op and the engine's log lines at each crash point.
//
// Problems are grouped by kind and reported once each, with the first
// occurrence (seed, crash point, recent ops) and, for the kinds of engine
// bug this suite is known to find, what the bug is and how to fix it. Two
// kinds are tolerated (logged, not failed): a file the caller removed that
// a crash brings back with no entry (ErrMissingEntry, a clean error for a
// file nobody reads), and a MemFS artifact: a crash clone can keep both
// names of an unsynced rename, which no journaling filesystem does.
//
// TestCrashReencryptWhileWriting, TestCrashPebbleReencrypt and
// TestCrashOverwrite pin down, deterministically, engine bugs the random
// workload finds.
//
// Each level's harness has files of its own: crashfs_test.go with the
// model, ops and check of crashfs_model_test.go, crashfs_ops_test.go and
// crashfs_check_test.go; crashpebble_test.go. This file holds what both
// share: the budget, the problems and their report.

// ecBudget returns the crash points of TestCrashFS and of TestCrashPebble.
func ecBudget(t *testing.T) (fsPoints, pebblePoints int) {
	total := 600
	if testing.Short() {
		total = 120
	}
	if s := os.Getenv("TDE_CRASH_POINTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TDE_CRASH_POINTS=%q: want a positive count", s)
		}
		total = n
	}
	pebblePoints = max(1, total/3)
	return max(1, total-pebblePoints), pebblePoints
}

// ecProblem is one way a check failed: cat groups problems for the report.
type ecProblem struct {
	cat       string
	tolerated bool
	detail    string
}

// ecReport collects problems by category across crash points.
type ecReport struct {
	cats  map[string]*ecCat
	order []string
}

type ecCat struct {
	n         int
	tolerated bool
	first     string
}

func newEcReport() *ecReport { return &ecReport{cats: map[string]*ecCat{}} }

func (r *ecReport) add(p ecProblem, where string) {
	c := r.cats[p.cat]
	if c == nil {
		c = &ecCat{tolerated: p.tolerated, first: p.detail + " — " + where}
		r.cats[p.cat] = c
		r.order = append(r.order, p.cat)
	}
	c.n++
}

func (r *ecReport) finish(t *testing.T) {
	t.Helper()
	for _, cat := range r.order {
		c := r.cats[cat]
		if c.tolerated {
			t.Logf("tolerated, %d times: %s; first: %s", c.n, cat, c.first)
			continue
		}
		t.Errorf("%s: %d times.\n\tFirst: %s%s", cat, c.n, c.first, explainCrash(cat))
	}
}

// explainCrash names the engine bug behind a category this suite is known
// to find.
func explainCrash(cat string) string {
	switch cat := strings.ToLower(cat); {
	case strings.Contains(cat, "is lost") && strings.Contains(cat, "remove"):
		return "\n\tENGINE BUG (engine/fs.go Remove): Remove removes the file, then makes the entry's deletion durable at once, while the removal itself is durable " +
			"only once the caller syncs the directory. A crash in between brings the name back with no entry. Usually harmless (a file the caller deleted opens " +
			"with ErrMissingEntry), but if the file still has another name that was not yet durable (a Link, then Remove of the old name; likewise a rename), the " +
			"crash leaves it under the removed name only, unreadable: synced bytes lost. Fix: sync the parent directory between base.Remove and dict.remove, or " +
			"keep removed entries as tombstones and drop them when the FS sees that directory synced (OpenDir(dir).Sync() passes through it) or at Close."
	case strings.Contains(cat, "is lost") && strings.Contains(cat, "rename"):
		return "\n\tENGINE BUG (engine/dict.go dictState.settle): a later record that mentions either path of a pending move settles it (\"the rename happened\"), " +
			"though nothing made the rename durable: rename a→b, then rename b→c (or remove b) before the directory is synced, and a crash leaves the file under a " +
			"with no entry. Fix: settle pending moves only when the FS sees the directory synced, or sync the directory before recording a move or delete whose " +
			"path is the destination of a pending move."
	case strings.Contains(cat, "reencrypt") || strings.Contains(cat, "re-encryption"):
		return "\n\tENGINE BUG (engine/reencrypt.go rewrite; engine/dict_write.go settleDurable; engine/dict_epoch.go claimable): Reencrypt copies a table to " +
			"<name>" + reencryptSuffix + ", syncs it, records the move and renames the copy over the table, syncs the directory, and only then may the old key go. " +
			"Check, in order: renameLocked syncs the source's directory before dict.move when the destination exists (an absent source must mean the rename " +
			"happened); rewrite syncs the directory after the rename; settleDurable writes a synced record, so the log no longer says the move is pending " +
			"(forgotten only in memory, the next pass's copy, under the same name, makes an open undo the move and give the table its dropped key: " +
			"TestCrashRecreatedMoveSource); and an epoch never claims a name of a pending move, whose queued record a crash can lose."
	case strings.Contains(cat, "create-over"):
		return "\n\tENGINE BUG (engine/fs.go Create → clear): Create over an existing file removes it and makes the dictionary's delete and the new entry durable " +
			"without syncing the directory in between. A crash before the caller syncs the directory brings the old file back, with no entry (ErrMissingEntry) or read " +
			"under the new entry (garbage), which Create's comment promises cannot happen. Fix: in clear, when base.Remove removed a file, sync its directory before " +
			"dict.remove / dict.put."
	case strings.Contains(cat, "rename-over"):
		return "\n\tENGINE BUG (engine/fs.go renameLocked, with dict.go reconcile): a rename over an existing file whose source was not yet durable (created since " +
			"the directory was last synced): after a crash neither the source nor the rename is there and the old destination is; reconcile sees the source absent, " +
			"takes the move as done and gives the old destination the source's entry: garbage. Fix: in renameLocked, when newname exists, sync oldname's directory " +
			"before dict.move, so that an absent source really means the rename happened."
	}
	return ""
}
