package keys

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRotateMasterKeyDirSyncFails: when the directory sync after the
// registry's rename fails, RotateMasterKey says the new registry may be in
// place (a typed error), never "nothing changed"; the registry goes on
// under the new master key with the old active data key; a crash leaves a
// registry that opens with either key; and a retry with the same new key
// converges on a registry only the new key opens.
func TestRotateMasterKeyDirSyncFails(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "retry", true: "crash"}[crash], func(t *testing.T) {
			ctx := context.Background()
			mem, c := newMemFS(), newClock()
			var armed atomic.Bool
			fsys := faultFS{FS: mem, fail: func(op, name string) error {
				if op == "syncdir" && armed.CompareAndSwap(true, false) {
					return errInjected
				}
				return nil
			}}
			old := fileKey(t)
			newHex := []byte(hex.EncodeToString(randKey(t, 32)) + "\n")
			newKey := func() MasterKey {
				k, err := ParseHexKey(newHex)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { k.Close() })
				return k
			}
			r := mustOpen(t, fsys, "/db", cfgWith(old, MethodAES128CTR, c))
			active := r.Active().ID()
			nk := newKey()

			armed.Store(true)
			err := r.RotateMasterKey(ctx, nk)
			var u *UncertainWriteError
			if !errors.Is(err, ErrRegistryUncertain) || !errors.As(err, &u) || !errors.Is(err, errInjected) {
				t.Fatalf("RotateMasterKey with a failing directory sync = %v, want an UncertainWriteError", err)
			}
			if u.Path != "/db/"+RegistryFile || u.Master != nk.String() || !strings.Contains(err.Error(), "may already be the current one") {
				t.Fatalf("error names %q under %q: %v", u.Path, u.Master, err)
			}
			if r.Master() != nk {
				t.Fatalf("registry master after the uncertain write = %v, want the new key", r.Master())
			}
			if r.Active().ID() != active {
				t.Fatal("the active data key changed to one a crash may take away")
			}
			if _, err := r.Key(active); err != nil {
				t.Fatal(err)
			}

			if crash {
				// The directory change was not durable: the old file is
				// back. Either key opens what a crash leaves.
				r.Close()
				mem.crash()
				cfg := cfgWith(newKey(), MethodAES128CTR, c)
				cfg.Previous = old
				r2 := mustOpen(t, fsys, "/db", cfg)
				if _, err := r2.Key(active); err != nil {
					t.Fatal(err)
				}
				return
			}
			// Retry with the same new key (another handle on it).
			if err := r.RotateMasterKey(ctx, newKey()); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if r.Active().ID() == active {
				t.Fatal("the retry made no new data key")
			}
			r.Close()
			mem.crash() // the retry's write is durable
			if _, err := OpenRegistry(ctx, fsys, "/db", cfgWith(old, MethodAES128CTR, c)); !errors.Is(err, ErrWrongMasterKey) {
				t.Fatalf("open with the old key after the retry = %v, want ErrWrongMasterKey", err)
			}
			r2 := mustOpen(t, fsys, "/db", cfgWith(newKey(), MethodAES128CTR, c))
			if _, err := r2.Key(active); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// blockingSyncFS blocks, once armed, the Sync of the file it creates until
// release is closed, after closing started.
type blockingSyncFS struct {
	FS
	armed            *atomic.Bool
	started, release chan struct{}
}

func (b blockingSyncFS) Create(name string) (File, error) {
	f, err := b.FS.Create(name)
	if err != nil || !b.armed.CompareAndSwap(true, false) {
		return f, err
	}
	return blockingSyncFile{File: f, fs: b}, nil
}

type blockingSyncFile struct {
	File
	fs blockingSyncFS
}

func (f blockingSyncFile) Sync() error {
	close(f.fs.started)
	<-f.fs.release
	return f.File.Sync()
}

// TestReadersDoNotWaitForWrite: while a registry write is stuck in fsync,
// Key, Active, Keys and Master answer (they read a published state; only
// writers take the registry's lock). The engine's key cache builds on it.
func TestReadersDoNotWaitForWrite(t *testing.T) {
	fsys := blockingSyncFS{FS: newMemFS(), armed: new(atomic.Bool), started: make(chan struct{}), release: make(chan struct{})}
	r := mustOpen(t, fsys, "/db", cfgWith(fileKey(t), MethodSM4CTR, newClock()))
	id := r.Active().ID()
	fsys.armed.Store(true)
	rotated := make(chan error, 1)
	go func() { rotated <- r.RotateDataKey(context.Background()) }()
	<-fsys.started
	read := make(chan error, 1)
	go func() {
		_, err := r.Key(id)
		if r.Active().ID() != id || len(r.Keys()) != 1 || r.Master() == nil {
			err = errors.New("readers saw the unpublished write")
		}
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("readers waited for a registry write stuck in fsync")
	}
	close(fsys.release)
	if err := <-rotated; err != nil {
		t.Fatal(err)
	}
	if r.Active().ID() == id {
		t.Fatal("no rotation")
	}
}
