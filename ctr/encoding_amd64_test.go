package ctr

import (
	"testing"

	"github.com/tde-go/tde/internal/ctrtest"
)

func TestKernelEncodings(t *testing.T) {
	for fn, enc := range map[string]string{"ctrAESNI": "legacy", "subWordAESNI": "legacy", "ctrVAESYMM": "vex"} {
		if bad := ctrtest.Violations(t, "ctr_amd64.s", fn, enc); len(bad) != 0 {
			t.Errorf("%s must be %s-encoded; it has %d instructions that are not, first: %s", fn, enc, len(bad), bad[0])
		}
	}
	// The check itself can fail: the AVX-512 kernel is full of what it finds.
	if len(ctrtest.Violations(t, "ctr_amd64.s", "ctrVAESZMM", "vex")) == 0 {
		t.Error("the encoding check finds nothing in the AVX-512 kernel")
	}
}
