package engine

import (
	"fmt"
	"testing"
)

// TestDictDirMovePending: a move-prefix whose rename did not happen is
// undone at open, the destination's entries it dropped put back, also
// when a rewrite wrote it; one whose rename happened stands.
func TestDictDirMovePending(t *testing.T) {
	for _, renamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("renamed=%v", renamed), func(t *testing.T) {
			fs := newDictStore(t)
			d := mustOpenDict(t, fs, quietOpts())
			for i, rel := range []string{"a/x", "a/d/y", "b/z", "c"} {
				noErr(t, d.put(rel, testEntry(i)))
				touchRel(t, fs, rel)
			}
			before := dictContents(d)
			moved, err := d.moveDir("a", "b")
			noErr(t, err)
			if !moved {
				t.Fatal("moveDir recorded nothing")
			}
			after := map[string]entry{"b/x": before["a/x"], "b/d/y": before["a/d/y"], "c": before["c"]}
			checkContents(t, d, after)
			d.wmu.Lock()
			noErr(t, d.rewrite())
			d.wmu.Unlock()
			mustCloseDict(t, d)
			want := before
			if renamed {
				noErr(t, fs.RemoveAll("/s/b"))
				noErr(t, fs.Rename("/s/a", "/s/b"))
				want = after
			}
			d = mustRead(t, fs, quietOpts())
			checkContents(t, d, want)
			noErr(t, d.start(false))
			mustCloseDict(t, d)
			// The open rewrote the log: the move is judged once.
			noErr(t, fs.MkdirAll("/s/a", 0o755))
			d = mustRead(t, fs, quietOpts())
			checkContents(t, d, want)
			d.close()
		})
	}
}
