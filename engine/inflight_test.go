package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tde-go/tde/keys"
)

// blockingCreateFS blocks the base Create of names ending in suffix until
// release is closed, after closing started.
type blockingCreateFS struct {
	vfs.FS
	suffix  string
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (b *blockingCreateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if strings.HasSuffix(name, b.suffix) {
		b.once.Do(func() { close(b.started) })
		<-b.release
	}
	return b.FS.Create(name, c)
}

// TestCloseWaitsForCreateInFlight: a Create that has taken its key and
// entry when Close begins either finishes first, and Close refuses with
// ErrFilesOpen, or is refused; never does Close wipe the key the new file
// then writes with.
func TestCloseWaitsForCreateInFlight(t *testing.T) {
	base := &blockingCreateFS{FS: vfs.NewMem(), suffix: "/slow", started: make(chan struct{}), release: make(chan struct{})}
	cfg := testConfig(t, keys.MethodAES256CTR)
	f := mustOpen(t, base, "/s", cfg)

	created := make(chan vfs.File, 1)
	go func() {
		w, err := f.Create("/s/slow", vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Error(err)
		}
		created <- w
	}()
	<-base.started // Create holds a key and an entry, not yet a file
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		close(base.release)
		<-created
		t.Fatalf("Close returned %v while a Create was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(base.release)
	w := <-created
	if err := <-closed; !errors.Is(err, ErrFilesOpen) {
		t.Fatalf("Close with a file created meanwhile = %v, want ErrFilesOpen", err)
	}
	want := bytes.Repeat([]byte("written after Close was refused "), 64)
	if _, err := w.Write(bytes.Clone(want)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustClose(t, f)

	f = mustOpen(t, base.FS, "/s", cfg)
	defer func() { mustClose(t, f) }()
	if got := readAllFS(t, f, "/s/slow"); !bytes.Equal(got, want) {
		t.Fatal("file written around Close does not decrypt under its key")
	}
}

func readAllFS(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	r, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteAfterCloseRefused: a file closed, then its FS closed, takes no
// more writes (MemFS's file panics on main): its key schedule is wiped and
// would write a keystream anyone can compute.
func TestWriteAfterCloseRefused(t *testing.T) {
	base := vfs.NewMem()
	f := mustOpen(t, base, "/s", testConfig(t, keys.MethodSM4CTR))
	w, err := f.Create("/s/f", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	mustClose(t, f)
	if _, err := w.Write([]byte("after the FS closed")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	if _, err := w.WriteAt([]byte("after the FS closed"), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteAt after Close = %v, want os.ErrClosed", err)
	}
	if fi, err := base.Stat("/s/f"); err != nil || fi.Size() != int64(len("before")) {
		t.Fatalf("base file after refused writes: %v, %v", fi, err)
	}
}

// TestCloseRacingOperations hammers Create, Write, Remove, RemoveAll,
// RotateDataKey and RotateMasterKey against Close (run it with -race).
// Every error is ErrClosed or ErrFilesOpen, and every file that was fully
// written reads back, after a reopen with the master key last rotated to,
// exactly as written: a write with a wiped key schedule would not.
func TestCloseRacingOperations(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		closeRacingRound(t, round)
		if t.Failed() {
			return
		}
	}
}

func closeRacingRound(t *testing.T, round int) {
	base := vfs.NewMem()
	cfg := testConfig(t, keys.MethodAES128CTR)
	f := mustOpen(t, base, "/s", cfg)

	var (
		mu      sync.Mutex
		written = map[string][]byte{} // fully written, not removed
		master  = cfg.MasterKey
		errs    []error
	)
	allowed := func(err error) {
		if err != nil && !errors.Is(err, ErrClosed) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(fn func(i int) bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if !fn(i) {
					return
				}
			}
		}()
	}
	for g := range 3 {
		worker(func(i int) bool {
			name := fmt.Sprintf("/s/d%d/f%d", g, i%8)
			if i%8 == 0 {
				if err := f.MkdirAll(fmt.Sprintf("/s/d%d", g), 0o755); err != nil {
					t.Error(err)
					return false
				}
			}
			w, err := f.Create(name, vfs.WriteCategoryUnspecified)
			if err != nil {
				allowed(err)
				return !errors.Is(err, ErrClosed)
			}
			mu.Lock()
			delete(written, name)
			mu.Unlock()
			want := bytes.Repeat(fmt.Appendf(nil, "%s round %d write %d;", name, round, i), 20)
			if _, err := w.Write(bytes.Clone(want)); err != nil {
				allowed(err)
			}
			if err := w.Sync(); err != nil {
				allowed(err)
			}
			if err := w.Close(); err != nil {
				allowed(err)
			}
			mu.Lock()
			written[name] = want
			mu.Unlock()
			switch i % 8 {
			case 3:
				err = f.Remove(name)
				if err == nil {
					mu.Lock()
					delete(written, name)
					mu.Unlock()
				}
			case 7:
				dir := fmt.Sprintf("/s/d%d", g)
				err = f.RemoveAll(dir)
				if err == nil {
					mu.Lock()
					for n := range written {
						if strings.HasPrefix(n, dir+"/") {
							delete(written, n)
						}
					}
					mu.Unlock()
				}
			}
			allowed(err)
			return !errors.Is(err, ErrClosed)
		})
	}
	worker(func(i int) bool {
		var err error
		if i%2 == 0 {
			err = f.RotateDataKey()
		} else {
			next := MasterKeyConfig{Type: "file", Path: writeHexKey(t)}
			if err = f.RotateMasterKey(next); err == nil {
				mu.Lock()
				master = next
				mu.Unlock()
			}
		}
		allowed(err)
		return !errors.Is(err, ErrClosed)
	})

	time.Sleep(time.Duration(1+round%5) * time.Millisecond)
	for {
		err := f.Close()
		if err == nil {
			break
		}
		if !errors.Is(err, ErrFilesOpen) {
			t.Fatalf("Close = %v", err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("round %d: error other than ErrClosed: %v", round, err)
	}

	cfg.MasterKey = master
	f = mustOpen(t, base, "/s", cfg)
	defer func() { mustClose(t, f) }()
	for name, want := range written {
		if got := readAllFS(t, f, name); !bytes.Equal(got, want) {
			t.Errorf("round %d: %s does not decrypt to what was written", round, name)
		}
	}
}

// TestRemoveReadsDictionaryStateUnderLock: Remove and RemoveAll check
// whether the dictionary still takes writes while another goroutine's
// append fails (run with -race: the state changes under the writers'
// lock), and once it has failed they remove nothing.
func TestRemoveReadsDictionaryStateUnderLock(t *testing.T) {
	var fail atomic.Bool
	base := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if fail.Load() && strings.HasPrefix(path.Base(op.Path), dictLogPrefix) &&
			(op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileSync) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	f := mustOpen(t, base, "/s", testConfig(t, keys.MethodAES128CTR))
	defer func() { mustClose(t, f) }()
	const n = 200
	for i := range n {
		for _, name := range []string{fmt.Sprintf("/s/r%d", i), fmt.Sprintf("/s/d%d/f", i)} {
			if err := f.MkdirAll(path.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			w, err := f.Create(name, vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
	}
	if err := syncDir(f, "/s"); err != nil {
		t.Fatal(err)
	}
	failed := make(chan struct{})
	go func() {
		defer close(failed)
		names := [2]string{"/s/a", "/s/b"}
		w, err := f.Create(names[0], vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Error(err)
			return
		}
		w.Close()
		for i := 0; ; i++ {
			if err := f.Rename(names[i%2], names[(i+1)%2]); err != nil {
				return // the append failed: the dictionary refuses writes now
			}
		}
	}()
	// Only the renames append (a removal's record waits for the next
	// append), so it is the other goroutine that records the failure.
	start := time.Now()
	for i := 0; i < n || time.Since(start) < 100*time.Millisecond; i++ {
		if i == n/4 {
			fail.Store(true)
		}
		f.Remove(fmt.Sprintf("/s/r%d", i%n)) // a file already gone is an error too
	}
	<-failed
	errR := f.Remove("/s/r0")
	errA := f.RemoveAll("/s/d0")
	if errR == nil || errA == nil {
		t.Fatalf("Remove = %v, RemoveAll = %v after a failed append; want refusals", errR, errA)
	}
	if _, err := base.Stat("/s/d0/f"); err != nil {
		t.Fatalf("RemoveAll refused but removed the directory: %v", err)
	}
}
