package engine

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// TestDifferentialOps runs the same random operations on the engine (over a
// MemFS) and on a bare MemFS and checks that every read, listing and size
// agrees, with reopens of the engine and data-key rotations mixed in.
func TestDifferentialOps(t *testing.T) {
	ops := 3000
	if testing.Short() {
		ops = 800
	}
	for _, m := range []keys.Method{keys.MethodAES192CTR, keys.MethodSM4CTR} {
		t.Run(m.String(), func(t *testing.T) { differentialOps(t, m, ops) })
	}
}

func differentialOps(t *testing.T, m keys.Method, ops int) {
	r := mrand.New(mrand.NewPCG(uint64(m), 77))
	cfg := testConfig(t, m)
	base, plain := vfs.NewMem(), vfs.NewMem()
	plain.MkdirAll("/s/sub", 0o755)
	f := mustOpen(t, base, "/s", cfg)
	f.MkdirAll("/s/sub", 0o755)
	defer func() { mustClose(t, f) }()

	names := []string{"/s/a", "/s/b", "/s/c", "/s/sub/d", "/s/sub/e"}
	name := func() string { return names[r.IntN(len(names))] }
	// Files open for writing on both sides, by name.
	type pair struct{ e, p vfs.File }
	open := map[string]pair{}
	closeAll := func() {
		for n, p := range open {
			p.e.Close()
			p.p.Close()
			delete(open, n)
		}
	}
	same := func(what string, e1, e2 error) bool {
		if (e1 == nil) != (e2 == nil) {
			t.Fatalf("%s: engine error %v, MemFS error %v", what, e1, e2)
		}
		return e1 == nil
	}
	trace := func(format string, args ...any) {
		if testing.Verbose() {
			t.Logf(format, args...)
		}
	}
	for i := range ops {
		op := r.IntN(10)
		trace("op %d: %d", i, op)
		switch op {
		case 0, 1: // create (or truncate) and write
			n := name()
			if p, ok := open[n]; ok {
				p.e.Close()
				p.p.Close()
			}
			trace("create %s", n)
			fe, err1 := f.Create(n, vfs.WriteCategoryUnspecified)
			fp, err2 := plain.Create(n, vfs.WriteCategoryUnspecified)
			if same("create "+n, err1, err2) {
				open[n] = pair{fe, fp}
			}
		case 2, 3: // append to an open file
			for n, p := range open {
				b := randomBytes(r, r.IntN(5000))
				c := bytes.Clone(b)
				trace("write %s %d", n, len(b))
				_, err1 := p.e.Write(b)
				_, err2 := p.p.Write(c)
				same("write "+n, err1, err2)
				break
			}
		case 4: // close a file
			for n, p := range open {
				same("close "+n, p.e.Close(), p.p.Close())
				delete(open, n)
				break
			}
		case 5: // rename
			a, b := name(), name()
			if _, ok := open[a]; ok {
				continue
			}
			if _, ok := open[b]; ok {
				continue
			}
			trace("rename %s %s", a, b)
			same(fmt.Sprintf("rename %s %s", a, b), f.Rename(a, b), plain.Rename(a, b))
		case 6: // link
			a, b := name(), name()
			trace("link %s %s", a, b)
			same(fmt.Sprintf("link %s %s", a, b), f.Link(a, b), plain.Link(a, b))
		case 7: // remove
			n := name()
			if _, ok := open[n]; ok {
				continue
			}
			trace("remove %s", n)
			same("remove "+n, f.Remove(n), plain.Remove(n))
		case 8: // read back everything
			for _, n := range names {
				compareFile(t, f, plain, n)
			}
			compareList(t, f, plain, "/s")
			compareList(t, f, plain, "/s/sub")
		case 9: // rotate, or reopen the engine
			if r.IntN(2) == 0 {
				trace("rotate")
				if err := f.RotateDataKey(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			trace("reopen")
			closeAll()
			mustClose(t, f)
			f = mustOpen(t, base, "/s", cfg)
		}
		if t.Failed() {
			t.Fatalf("after op %d", i)
		}
	}
	closeAll()
	for _, n := range names {
		compareFile(t, f, plain, n)
	}
}

func compareFile(t *testing.T, f *FS, plain vfs.FS, n string) {
	t.Helper()
	fe, err1 := f.Open(n)
	fp, err2 := plain.Open(n)
	if (err1 == nil) != (err2 == nil) {
		t.Fatalf("open %s: engine %v, MemFS %v", n, err1, err2)
	}
	if err1 != nil {
		return
	}
	defer fe.Close()
	defer fp.Close()
	b1, err1 := io.ReadAll(fe)
	b2, err2 := io.ReadAll(fp)
	if err1 != nil || err2 != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("%s: engine reads %d bytes (%v), MemFS %d (%v); equal %v", n, len(b1), err1, len(b2), err2, bytes.Equal(b1, b2))
	}
	s1, _ := f.Stat(n)
	s2, _ := plain.Stat(n)
	if s1.Size() != s2.Size() {
		t.Fatalf("%s: size %d, MemFS %d", n, s1.Size(), s2.Size())
	}
}

func compareList(t *testing.T, f *FS, plain vfs.FS, dir string) {
	t.Helper()
	l1, _ := f.List(dir)
	l2, _ := plain.List(dir)
	var k1 []string
	for _, n := range l1 {
		if !reserved(n) {
			k1 = append(k1, n)
		}
	}
	sort.Strings(k1)
	sort.Strings(l2)
	if fmt.Sprint(k1) != fmt.Sprint(l2) {
		t.Fatalf("List(%s): engine %v, MemFS %v", dir, k1, l2)
	}
}
