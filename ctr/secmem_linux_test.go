package ctr

import (
	"testing"

	"github.com/tde-go/tde/internal/secmem/secmemtest"
)

// TestRoundKeysOutOfDumps checks in /proc/self/smaps that the round keys of
// every kernel's cipher lie in memory left out of core dumps (dd) and
// locked (lo).
func TestRoundKeysOutOfDumps(t *testing.T) {
	for _, k := range supportedImpls() {
		for _, n := range []int{16, 24, 32} {
			c, err := newCipher(make([]byte, n), k)
			if err != nil {
				t.Fatal(err)
			}
			if err := secmemtest.Check("AES-"+k.String()+" round keys", c.ks); err != nil {
				t.Error(err)
			}
			c.Destroy()
		}
	}
}

// TestUnreachableCipherZeroed: the round keys of a cipher nobody holds are
// zeroed, whether or not Destroy was called.
func TestUnreachableCipherZeroed(t *testing.T) {
	key := []byte("0123456789abcdef")
	c, err := newCipher(key, defaultImpl)
	if err != nil {
		t.Fatal(err)
	}
	rk := (*roundKeys)(c.ks) // secmem memory: does not keep c alive
	if *rk == (roundKeys{}) {
		t.Fatal("round keys are zero before the cipher is dropped")
	}
	c = nil
	secmemtest.WaitZeroed(t, "round keys", func() bool { return *rk == (roundKeys{}) })
}
