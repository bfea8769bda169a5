package sm4

import "testing"

func FuzzARM64SM4E(f *testing.F) { fuzzKernel(f, implARM64SM4E) }
func FuzzARM64NEON(f *testing.F) { fuzzKernel(f, implARM64NEON) }
