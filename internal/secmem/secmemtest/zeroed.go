package secmemtest

import (
	"runtime"
	"testing"
	"time"
)

// WaitZeroed runs the garbage collector until zeroed reports true, for up
// to 5 s, and fails t if it never does: the round keys of a cipher nobody
// holds are wiped by its cleanup, which runs some time after a collection.
func WaitZeroed(t testing.TB, what string, zeroed func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if zeroed() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s of an unreachable cipher were not zeroed", what)
}
