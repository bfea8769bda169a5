package sm4

import (
	"testing"

	"github.com/tde-go/tde/internal/ctrtest"
)

func TestKernelEncodings(t *testing.T) {
	for _, fn := range []string{"ctrAESNIAVX2", "ctrGFNIYMM"} {
		if bad := ctrtest.Violations(t, "sm4_amd64.s", fn, "vex"); len(bad) != 0 {
			t.Errorf("%s must be VEX-encoded for AVX2-only CPUs; it has %d instructions that are not, first: %s", fn, len(bad), bad[0])
		}
	}
	// The check itself can fail: the AVX-512 kernel is full of what it finds.
	if len(ctrtest.Violations(t, "sm4_amd64.s", "ctrGFNIZMM", "vex")) == 0 {
		t.Error("the encoding check finds nothing in the AVX-512 kernel")
	}
}
