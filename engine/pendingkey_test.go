package engine

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// TestPendingMoveKeepsReplacedKey: a rename over a file is recorded before
// it happens and is undone at open if a crash lost it; the file it
// replaced then gets its entry back, so that entry's data key must not be
// dropped meanwhile (the rotation loop's retain runs at any time), or the
// old file, still on disk, never reads again.
func TestPendingMoveKeepsReplacedKey(t *testing.T) {
	mem := vfs.NewCrashableMem()
	noErr(t, mem.MkdirAll("/s", 0o755))
	noErr(t, syncDir(mem, "/"))
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, mem, "/s", cfg)
	noErr(t, syncDir(mem, "/s"))
	old, repl := []byte("the old file, under the old key"), []byte("the new file")
	durableFile(t, f, "/s/sub/to", old)
	noErr(t, errors.Join(syncDir(mem, "/s/sub"), syncDir(mem, "/s")))
	noErr(t, f.RotateDataKey())
	durableFile(t, f, "/s/sub/from", repl)
	noErr(t, syncDir(mem, "/s/sub"))
	noErr(t, f.Rename("/s/sub/from", "/s/sub/to"))
	_, err := f.retain(context.Background()) // what the rotation loop does
	noErr(t, err)

	crashed := mem.CrashClone(vfs.CrashCloneCfg{}) // the rename's directory was not synced
	g := mustOpen(t, crashed, "/s", cfg)
	defer mustClose(t, g)
	for name, want := range map[string][]byte{"/s/sub/to": old, "/s/sub/from": repl} {
		if got, err := ecReadFile(g, name); err != nil || !bytes.Equal(got, want) {
			t.Errorf("after a crash that lost the rename, %s reads %q (err %v), want %q", name, got, err, want)
		}
	}
	mustClose(t, f)
}
