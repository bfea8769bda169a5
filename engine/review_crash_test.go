package engine

import (
	"errors"
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Review of the pending-move fixes (settleDurable, claimable, the both-names
// judgment of reconcile): the paths that still judge or settle a move wrong.

// TestReviewCrashBothNamesOutside: a crash that keeps both names of a
// rename in a directory outside the store (Pebble's WALDir). reconcile
// leaves such moves to adoptDir, which judged them by the source's
// presence alone: both names kept, it undid a rename that happened, and
// the destination paired the moved bytes with its old entry (or with
// none: a reused WAL opened with ErrMissingEntry). The store's own
// directories are held to the same for comparison. Outside the store the
// old name is not removed (adoptDir): it stays with no entry, and the log
// records the move as settled.
func TestReviewCrashBothNamesOutside(t *testing.T) {
	for _, d := range []string{"", "wal", ecOutside} {
		for _, reuse := range []bool{false, true} {
			name := "dir=" + d
			if d == "" {
				name = "dir=."
			}
			if reuse {
				name += "/reuse"
			} else {
				name += "/rename-over"
			}
			t.Run(name, func(t *testing.T) {
				w := startEcWork(t, 1)
				rel := func(n string) string { return path.Join(d, n) }
				if err := errors.Join(
					ecWriteSynced(w.f, ecAbs(rel("a.log")), "the old log"),
					ecWriteSynced(w.f, ecAbs(rel("b.log")), "the new log"),
					w.syncDir(d)); err != nil {
					t.Fatal(err)
				}
				want := "the new log"
				if reuse {
					// Pebble recycles b.log as c.log, writes and syncs it;
					// the crash comes before its directory sync.
					fh, err := w.f.ReuseForWrite(ecAbs(rel("b.log")), ecAbs(rel("c.log")), vfs.WriteCategoryUnspecified)
					if err != nil {
						t.Fatal(err)
					}
					_, err = fh.Write([]byte("recycled"))
					if err = errors.Join(err, fh.Sync(), fh.Close()); err != nil {
						t.Fatal(err)
					}
					// A recycled log's tail past the new bytes is the old
					// log's under the new entry: noise, by design.
					want = "recycled"
				} else if err := w.f.Rename(ecAbs(rel("b.log")), ecAbs(rel("a.log"))); err != nil {
					t.Fatal(err)
				}
				dst := rel("a.log")
				if reuse {
					dst = rel("c.log")
				}
				clone := w.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 2))})
				for _, n := range []string{rel("b.log"), dst} {
					if _, err := clone.Stat(ecAbs(n)); err != nil {
						t.Fatalf("the crash did not keep both names (%s: %v): not the state this test is about", n, err)
					}
				}
				f, err := Open(clone, ecStore, w.cfg)
				if err != nil {
					t.Fatalf("Open after a crash: %v", err)
				}
				defer f.Close()
				if got, err := ecReadFile(f, ecAbs(dst)); err != nil || !strings.HasPrefix(string(got), want) || !reuse && string(got) != want {
					t.Errorf("after a crash that kept both names %s reads %q (err %v), want %q", dst, got, err, want)
				}
				if d != ecOutside {
					return // the open removed the old name (TestCrashRenameBothNames)
				}
				// Outside the store the old name stays (Pebble may have
				// listed the directory), with no entry: nothing reads it.
				if _, err := ecReadFile(f, ecAbs(rel("b.log"))); !errors.Is(err, ErrMissingEntry) {
					t.Errorf("after a crash that kept both names, reading the old name %s gives %v, want ErrMissingEntry", rel("b.log"), err)
				}
				// The log, not just memory, says the rename happened.
				dict, err := readDictionary(clone, ecStore, quietOpts())
				if err != nil {
					t.Fatal(err)
				}
				if dict.marker != nil {
					dict.marker.Close()
				}
				for p, m := range dict.state.pending {
					if isExt(p) {
						t.Errorf("after the directory was judged the log still says the move of %s to %s is pending", m.from, m.to)
					}
				}
				for p := range dict.state.entries {
					if isExt(p) && strings.HasSuffix(p, "/b.log") {
						t.Errorf("after the directory was judged the log gives the old name an entry (%s)", p)
					}
				}
				// Pebble deletes it by name, as any obsolete WAL.
				if err := f.Remove(ecAbs(rel("b.log"))); err != nil {
					t.Errorf("removing the old name %s: %v", rel("b.log"), err)
				}
			})
		}
	}
}

// TestReviewCrashCreateAtMovedName: a name renamed away is created again
// before the rename's directory is synced, and a crash keeps neither. The
// create's synced record names the move's source, which settles the move
// (claimable now refuses the epoch's queued claim, so in the store
// directory too): the open then takes the rename as done while the disk
// still has the old file under the old name, and reads its bytes with the
// new file's entry. The record may settle the move only once its rename
// is durable, as renameDir makes sure before its own record.
func TestReviewCrashCreateAtMovedName(t *testing.T) {
	for _, d := range []string{"", "wal", ecOutside} {
		t.Run("dir="+d, func(t *testing.T) {
			w := startEcWork(t, 1)
			rel := func(n string) string { return path.Join(d, n) }
			// A first file begins the epoch in the store directory.
			if err := errors.Join(ecWriteSynced(w.f, ecAbs("first.sst"), "x"),
				ecWriteSynced(w.f, ecAbs(rel("a.sst")), "the old table"), w.syncDir(""), w.syncDir(d)); err != nil {
				t.Fatal(err)
			}
			if err := w.f.Rename(ecAbs(rel("a.sst")), ecAbs(rel("b.sst"))); err != nil {
				t.Fatal(err)
			}
			if err := ecWriteSynced(w.f, ecAbs(rel("a.sst")), "a new table"); err != nil {
				t.Fatal(err)
			}
			f, err := Open(w.mem.CrashClone(vfs.CrashCloneCfg{}), ecStore, w.cfg)
			if err != nil {
				t.Fatalf("Open after a crash: %v", err)
			}
			defer f.Close()
			// The table is under one name or the other, as the rename
			// survived or not; a.sst may also be the new file.
			old := 0
			for _, n := range []string{rel("a.sst"), rel("b.sst")} {
				got, err := ecReadFile(f, ecAbs(n))
				switch {
				case oserror.IsNotExist(err):
				case err == nil && string(got) == "the old table":
					old++
				case err == nil && n == rel("a.sst") && strings.HasPrefix("a new table", string(got)):
				default:
					t.Errorf("after a crash %s reads %q (err %v), want %q, (a prefix of) %q or no file", n, got, err, "the old table", "a new table")
				}
			}
			if old != 1 {
				t.Errorf("after a crash %d names read the old table, want 1", old)
			}
		})
	}
}

// TestReviewPlaintextOntoMovedName: in a store encrypted late (not strict),
// a file from before encryption (no entry) is renamed or linked onto the
// name an encrypted file was renamed away from. Neither writes a record
// that names that path (exclude's does not settle a move), so the log
// still says the first move is pending, and any later open - a clean one
// included - finds its source on disk and undoes it: the encrypted file
// loses its entry, the plaintext one gets it.
func TestReviewPlaintextOntoMovedName(t *testing.T) {
	for _, link := range []bool{false, true} {
		name := "rename"
		if link {
			name = "link"
		}
		t.Run(name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			if err := errors.Join(mem.MkdirAll("/s", 0o755), ecWriteSynced(mem, "/s/p.txt", "plaintext from before"), syncDir(mem, "/s"), syncDir(mem, "/")); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, encrypting[0])
			f := mustOpen(t, mem, "/s", cfg)
			if err := errors.Join(ecWriteSynced(f, "/s/a.sst", "the table"), syncDir(f, "/s")); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(f.Rename("/s/a.sst", "/s/b.sst"), syncDir(f, "/s")); err != nil {
				t.Fatal(err)
			}
			var err error
			if link {
				err = f.Link("/s/p.txt", "/s/a.sst")
			} else {
				err = f.Rename("/s/p.txt", "/s/a.sst")
			}
			if err = errors.Join(err, syncDir(f, "/s")); err != nil {
				t.Fatal(err)
			}
			mustClose(t, f)
			f = mustOpen(t, mem, "/s", cfg)
			defer f.Close()
			for n, want := range map[string]string{"/s/a.sst": "plaintext from before", "/s/b.sst": "the table"} {
				if got, err := ecReadFile(f, n); err != nil || string(got) != want {
					t.Errorf("after a clean reopen %s reads %q (err %v), want %q", n, got, err, want)
				}
			}
		})
	}
}
