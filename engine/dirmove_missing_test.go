package engine

import "testing"

// TestDirMovePendingOnMissingVolume: a directory rename recorded but not
// made (a crash in between), on a volume that is not mounted at the next
// open, cannot be judged then: the source's absence proves nothing when
// its parent is missing too. Judging it done re-keyed the entries under
// the destination for good; once the volume was back, the files, never
// moved, had no entry. The move stays pending until the source's parent
// is there to tell.
func TestDirMovePendingOnMissingVolume(t *testing.T) {
	fs := newDictStore(t)
	d := mustOpenDict(t, fs, quietOpts())
	e := testEntry(1)
	noErr(t, d.put("../vol/a/x", e))
	touchRel(t, fs, "../vol/a/x")
	moved, err := d.moveDir("../vol/a", "../vol/b")
	noErr(t, err)
	if !moved {
		t.Fatal("moveDir recorded nothing")
	}
	mustCloseDict(t, d) // a crash before the rename

	noErr(t, fs.Rename("/vol", "/vol.unmounted"))
	d = mustRead(t, fs, quietOpts())
	noErr(t, d.start(false)) // a writable open rewrites the log
	mustCloseDict(t, d)

	noErr(t, fs.Rename("/vol.unmounted", "/vol"))
	d = mustRead(t, fs, quietOpts())
	defer d.close()
	if got, ok := d.get("../vol/a/x"); !ok || got != e {
		t.Errorf("../vol/a/x, never moved, has entry %v, %v after its volume came back; want %v (dictionary: %v)", got, ok, e, dictContents(d))
	}
	if _, ok := d.get("../vol/b/x"); ok {
		t.Error("../vol/b/x, never made, has an entry")
	}
}
