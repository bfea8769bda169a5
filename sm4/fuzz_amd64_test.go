package sm4

import "testing"

func FuzzGFNIZMM(f *testing.F) { fuzzKernel(f, implGFNIZMM) }
