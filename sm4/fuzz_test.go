package sm4

import (
	"testing"

	"github.com/tde-go/tde/internal/ctrtest"
)

// Each kernel has its own fuzz target so that a run spends all its time on
// one.
func fuzzKernel(f *testing.F, k impl) { ctrtest.Fuzz(f, subject(), k.String()) }

func FuzzGeneric(f *testing.F) { fuzzKernel(f, implGeneric) }
