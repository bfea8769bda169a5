package secmem_test

import (
	"testing"
	"unsafe"

	"github.com/tde-go/tde/internal/secmem"
	"github.com/tde-go/tde/internal/secmem/secmemtest"
)

// TestArenaMapping checks the effect in /proc/self/smaps: a slot lies in a
// mapping with dd (MADV_DONTDUMP) and, when mlock succeeded, lo.
func TestArenaMapping(t *testing.T) {
	b, err := secmem.Alloc(32)
	if err != nil {
		t.Fatal(err)
	}
	defer secmem.Free(b)
	if err := secmemtest.Check("a slot", unsafe.Pointer(&b[0])); err != nil {
		t.Error(err)
	}
	if st := secmem.Status(); secmemtest.CanLock() && (!st.Locked || !st.NoDump || st.Err != nil) {
		t.Errorf("with room to lock, status = %+v; want locked, out of dumps, no error", st)
	}
	m, err := secmemtest.Find(unsafe.Pointer(&b[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Flags["wf"] {
		t.Logf("mapping has no wf (MADV_WIPEONFORK): kernel before 4.14?")
	}
	t.Logf("status %+v, mapping %#x-%#x", secmem.Status(), m.Start, m.End)
}
