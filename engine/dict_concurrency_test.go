package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Concurrency: readers never wait for the disk; writers race safely.

// TestDictReadersDoNotWait: while a write waits in fsync, get, keyInUse,
// len, each, size and logPath return.
func TestDictReadersDoNotWait(t *testing.T) {
	mem := newDictStore(t)
	var block sync.Once
	inSync, release := make(chan struct{}), make(chan struct{})
	armed := false
	efs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed && op.Kind == errorfs.OpFileSync && strings.Contains(op.Path, dictLogPrefix) {
			block.Do(func() { close(inSync); <-release })
		}
		return nil
	}))
	d := mustOpenDict(t, efs, quietOpts())
	putFile(t, mem, d, "a", testEntry(1))
	armed = true
	done := make(chan error)
	go func() { done <- d.put("b", testEntry(2)) }()
	<-inSync
	readers := make(chan struct{})
	go func() {
		d.get("a")
		d.keyInUse(101)
		d.len()
		d.each(func(string, entry) {})
		d.size()
		d.logPath()
		d.strict()
		close(readers)
	}()
	select {
	case <-readers:
	case <-time.After(10 * time.Second):
		t.Fatal("readers blocked behind a write's fsync")
	}
	if _, ok := d.get("b"); ok {
		t.Fatal("an entry is visible before its record is synced")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := d.get("b"); !ok {
		t.Fatal("entry missing after put returned")
	}
	d.close()
}

// TestDictConcurrent runs writers and readers together (for -race) and
// checks the result.
func TestDictConcurrent(t *testing.T) {
	fs := newDictStore(t)
	d := mustOpenDict(t, fs, dictOptions{RewriteThreshold: 16, Logger: quietOpts().Logger})
	var wg sync.WaitGroup
	const writers, per = 4, 60
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				rel := fmt.Sprintf("w%d/%03d", w, i)
				if err := d.put(rel, testEntry(i)); err != nil {
					t.Error(err)
					return
				}
				touchRel(t, fs, rel)
				if i%3 == 0 {
					fs.Remove(fs.PathJoin(testDictDir, rel))
					if err := d.remove(rel); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.get("w0/001")
			d.keyInUse(101)
			n := 0
			d.each(func(string, entry) { n++ })
			_ = d.len() + d.encrypted() + int(d.size()) + len(d.logPath())
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	want := make(map[string]entry)
	for w := range writers {
		for i := range per {
			if i%3 != 0 {
				want[fmt.Sprintf("w%d/%03d", w, i)] = testEntry(i)
			}
		}
	}
	checkContents(t, d, want)
	mustCloseDict(t, d)
	d = mustOpenDict(t, fs, quietOpts())
	checkContents(t, d, want)
	mustCloseDict(t, d)
}
