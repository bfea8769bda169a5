package keys

import (
	"testing"
	"unsafe"

	"github.com/tde-go/tde/internal/secmem/secmemtest"
)

// TestKeyMemoryOutOfDumps checks in /proc/self/smaps that master key bytes
// (hex and raw key files) and data keys (new, and read back from a
// registry wrapped under a master key or stored in plaintext) lie in
// memory left out of core dumps (dd) and locked (lo).
func TestKeyMemoryOutOfDumps(t *testing.T) {
	check := func(what string, b []byte) {
		t.Helper()
		if len(b) == 0 {
			t.Fatalf("%s: no key bytes", what)
		}
		if err := secmemtest.Check(what, unsafe.Pointer(&b[0])); err != nil {
			t.Error(err)
		}
	}
	hexKey := fileKey(t).(*localKey)
	check("hex master key", hexKey.key.bytes())
	raw, err := ParseRawKey(randKey(t, 64))
	if err != nil {
		t.Fatal(err)
	}
	check("raw master key", raw.(*localKey).key.bytes())

	for _, master := range []MasterKey{hexKey, Plaintext()} {
		fs := newMemFS()
		r := mustOpen(t, fs, "/db", cfgWith(master, MethodAES256CTR, newClock()))
		check("new data key under "+master.Kind(), r.Active().Key())
		r.Close()
		r = mustOpen(t, fs, "/db", cfgWith(master, MethodAES256CTR, newClock()))
		check("data key read back under "+master.Kind(), r.Active().Key())
		r.Close()
	}
}
