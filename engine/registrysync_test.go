package engine

import (
	"errors"
	"path"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// TestRotateMasterKeyRegistryDirSyncFails: the directory sync after the
// registry's rename fails during RotateMasterKey. The error says the new
// registry may be live (keys.UncertainWriteError); the FS goes on with the
// new master key and keeps working; RotateMasterKey again with the same
// key succeeds, and afterwards only the new key opens the store.
func TestRotateMasterKeyRegistryDirSyncFails(t *testing.T) {
	var renamed, armed atomic.Bool
	base := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch {
		case !armed.Load():
		case op.Kind == errorfs.OpRename && path.Base(op.Path) == registryTempFile:
			renamed.Store(true)
		case op.Kind == errorfs.OpFileSync && op.Path == "/s" && renamed.Load():
			armed.Store(false)
			return errorfs.ErrInjected
		}
		return nil
	}))
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, base, "/s", cfg)
	writeFile(t, f, "/s/before", []byte("contents of /s/before"))
	active := f.reg.Active().ID()

	newKey := MasterKeyConfig{Type: "file", Path: writeHexKey(t)}
	armed.Store(true)
	err := f.RotateMasterKey(newKey)
	var u *keys.UncertainWriteError
	if !errors.Is(err, keys.ErrRegistryUncertain) || !errors.As(err, &u) || !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("RotateMasterKey with a failing directory sync = %v, want a keys.UncertainWriteError", err)
	}
	if armed.Load() {
		t.Fatal("the fault did not fire")
	}
	if f.reg.Master() != f.master {
		t.Fatal("the FS and its registry disagree on the master key")
	}
	if f.reg.Active().ID() != active {
		t.Fatal("the active data key changed to one a crash may take away")
	}
	writeFile(t, f, "/s/during", []byte("contents of /s/during")) // the FS keeps working

	if err := f.RotateMasterKey(newKey); err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	writeFile(t, f, "/s/after", []byte("contents of /s/after"))
	mustClose(t, f)

	if _, err := Open(base, "/s", cfg); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Fatalf("open with the old key after the retry = %v, want ErrWrongMasterKey", err)
	}
	cfg.MasterKey = newKey
	f = mustOpen(t, base, "/s", cfg)
	defer func() { mustClose(t, f) }()
	for _, name := range []string{"/s/before", "/s/during", "/s/after"} {
		if got := string(readAllFS(t, f, name)); got != "contents of "+name {
			t.Errorf("%s reads %q", name, got)
		}
	}
}
