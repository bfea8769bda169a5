package sm4

import (
	"testing"

	"github.com/tde-go/tde/internal/secmem/secmemtest"
)

// TestRoundKeysOutOfDumps checks in /proc/self/smaps that the round keys of
// every kernel's cipher lie in memory left out of core dumps (dd) and
// locked (lo).
func TestRoundKeysOutOfDumps(t *testing.T) {
	for _, k := range supportedImpls() {
		c, err := newCipher(make([]byte, KeySize), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := secmemtest.Check("SM4-"+k.String()+" round keys", c.rk); err != nil {
			t.Error(err)
		}
		c.Destroy()
	}
}

// TestUnreachableCipherZeroed: the round keys of a cipher nobody holds are
// zeroed, whether or not Destroy was called.
func TestUnreachableCipherZeroed(t *testing.T) {
	c, err := NewCipher([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	rk := c.roundKeys() // secmem memory: does not keep c alive
	if *rk == (roundKeys{}) {
		t.Fatal("round keys are zero before the cipher is dropped")
	}
	c = nil
	secmemtest.WaitZeroed(t, "round keys", func() bool { return *rk == (roundKeys{}) })
}
