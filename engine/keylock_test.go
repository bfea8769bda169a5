package engine

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// slowRegistryFS is a base FS whose Sync of the key registry's temporary
// file blocks, once armed, until release is closed: a registry write stuck
// in fsync. started is closed when the first blocked Sync begins.
type slowRegistryFS struct {
	vfs.FS
	mu      sync.Mutex
	armed   bool
	started chan struct{}
	release chan struct{}
}

func newSlowRegistryFS(base vfs.FS) *slowRegistryFS {
	return &slowRegistryFS{FS: base, started: make(chan struct{}), release: make(chan struct{})}
}

func (s *slowRegistryFS) arm() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

func (s *slowRegistryFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.FS.Create(name, c)
	if err != nil || !strings.HasSuffix(name, keys.RegistryFile+".tmp") {
		return f, err
	}
	return &slowSyncFile{File: f, fs: s}, nil
}

type slowSyncFile struct {
	vfs.File
	fs *slowRegistryFS
}

func (f *slowSyncFile) Sync() error {
	f.fs.mu.Lock()
	armed := f.fs.armed
	if armed {
		f.fs.armed = false
		close(f.fs.started)
	}
	f.fs.mu.Unlock()
	if armed {
		<-f.fs.release
	}
	return f.File.Sync()
}

// within runs op and fails the test unless it returns within d; it then
// returns op's error. An op still blocked is left running, counted in
// pending: the caller releases what blocks it and waits.
func within(t *testing.T, pending *sync.WaitGroup, d time.Duration, what string, op func() error) (error, bool) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	pending.Add(1)
	go func() { defer pending.Done(); done <- op() }()
	select {
	case err := <-done:
		took := time.Since(start)
		t.Logf("%s took %v while the registry's sync was blocked", what, took)
		if took > d {
			t.Errorf("%s took %v while the registry's sync was blocked, want < %v", what, took, d)
		}
		return err, true
	case <-time.After(d):
		t.Errorf("%s still blocked after %v behind the registry's sync", what, d)
		return nil, false
	}
}

// TestKeyCacheNotHeldAcrossRegistrySync: while dropping an unused data key
// is stuck in the registry's fsync, opening files under a cached key and
// under a key not cached yet, and creating a file, do not wait for it
// (cockroach#98051: a lock held across an fsync stalls every reader).
func TestKeyCacheNotHeldAcrossRegistrySync(t *testing.T) {
	slow := newSlowRegistryFS(vfs.NewMem())
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, slow, "/s", cfg)
	writeFile(t, f, "/s/gone", []byte("contents of /s/gone")) // key 1, to be dropped
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, "/s/old", []byte("contents of /s/old")) // key 2: not cached after the reopen
	if err := f.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, "/s/new", []byte("contents of /s/new")) // key 3, active
	mustClose(t, f)

	f = mustOpen(t, slow, "/s", cfg)
	defer func() { mustClose(t, f) }()
	read := func(name string) error {
		r, err := f.Open(name)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err == nil && string(b) != "contents of "+name {
			err = errors.New("read " + string(b))
		}
		return err
	}
	if err := read("/s/new"); err != nil { // caches key 3
		t.Fatal(err)
	}
	if err := f.Remove("/s/gone"); err != nil {
		t.Fatal(err)
	}

	slow.arm()
	type result struct {
		n   int
		err error
	}
	retained := make(chan result, 1)
	go func() {
		n, err := f.retain(context.Background())
		retained <- result{n, err}
	}()
	<-slow.started // the registry write is now blocked in Sync

	const limit = 500 * time.Millisecond
	var ok [3]bool
	var err error
	var pending sync.WaitGroup
	err, ok[0] = within(t, &pending, limit, "Open of a file under a cached key", func() error { return read("/s/new") })
	if ok[0] && err != nil {
		t.Error(err)
	}
	err, ok[1] = within(t, &pending, limit, "Open of a file under an uncached key", func() error { return read("/s/old") })
	if ok[1] && err != nil {
		t.Error(err)
	}
	err, ok[2] = within(t, &pending, limit, "Create", func() error { writeFile(t, f, "/s/during", []byte("contents of /s/during")); return nil })
	if ok[2] && err != nil {
		t.Error(err)
	}
	select {
	case r := <-retained:
		t.Fatalf("retain returned before its sync was released: %d, %v", r.n, r.err)
	default:
	}
	close(slow.release)
	pending.Wait()
	r := <-retained
	if r.err != nil || r.n != 1 {
		t.Fatalf("retain = %d, %v; want 1 key dropped", r.n, r.err)
	}
	for _, name := range []string{"/s/old", "/s/new", "/s/during"} {
		if err := read(name); err != nil {
			t.Errorf("after retain: %v", err)
		}
	}
}

// TestAcquireRacingRetain: an acquire of the key a retain is dropping waits
// for the registry write and then finds the key gone, or, if the write
// failed, kept and intact; an acquire of any other key does not wait.
func TestAcquireRacingRetain(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "dropped", true: "write failed"}[fail], func(t *testing.T) {
			f := mustOpen(t, vfs.NewMem(), "/s", testConfig(t, keys.MethodSM4CTR))
			defer func() { mustClose(t, f) }()
			k1 := f.reg.Active().ID()
			kc, err := f.keys.acquire(k1) // cached, then unused
			if err != nil {
				t.Fatal(err)
			}
			f.keys.release(kc)
			if err := f.RotateDataKey(); err != nil {
				t.Fatal(err)
			}
			k2 := f.reg.Active().ID()

			entered, release := make(chan struct{}), make(chan struct{})
			retained := make(chan error, 1)
			go func() {
				_, err := f.keys.retain(f.dict.keyInUse, func(inUse func(uint64) bool) (int, error) {
					close(entered)
					<-release
					if fail {
						return 0, errors.New("injected registry write failure")
					}
					return f.reg.Retain(context.Background(), inUse)
				})
				retained <- err
			}()
			<-entered

			var pending sync.WaitGroup
			if _, ok := within(t, &pending, 500*time.Millisecond, "acquire of the active key", func() error {
				kc, err := f.keys.acquire(k2)
				if err == nil {
					f.keys.release(kc)
				}
				return err
			}); !ok {
				close(release)
				pending.Wait()
				return
			}
			type got struct {
				kc  *keyCipher
				err error
			}
			racing := make(chan got, 1)
			go func() {
				kc, err := f.keys.acquire(k1)
				racing <- got{kc, err}
			}()
			select {
			case g := <-racing:
				t.Fatalf("acquire of a retiring key returned before the drop settled: %v", g.err)
			case <-time.After(50 * time.Millisecond):
			}
			close(release)
			g := <-racing
			rerr := <-retained
			if !fail {
				if rerr != nil || !errors.Is(g.err, keys.ErrKeyNotFound) {
					t.Fatalf("retain = %v, racing acquire = %v; want the key dropped and ErrKeyNotFound", rerr, g.err)
				}
				return
			}
			if rerr == nil || g.err != nil {
				t.Fatalf("retain = %v, racing acquire = %v; want the write's error and the key kept", rerr, g.err)
			}
			defer f.keys.release(g.kc)
			// The cipher was not wiped: it matches one built afresh.
			dk, err := f.reg.Key(k1)
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := newKeyCipher(dk)
			if err != nil {
				t.Fatal(err)
			}
			var iv [16]byte
			a, b := make([]byte, 64), make([]byte, 64)
			g.kc.newKS(iv).XORKeyStreamAt(a, a, 0)
			fresh.newKS(iv).XORKeyStreamAt(b, b, 0)
			if string(a) != string(b) {
				t.Fatal("the kept key's cipher was wiped")
			}
		})
	}
}
