package sm4

import "testing"

func FuzzGFNIZMM(f *testing.F)   { fuzzKernel(f, implGFNIZMM) }
func FuzzAESNIAVX2(f *testing.F) { fuzzKernel(f, implAESNI) }
func FuzzGFNIYMM(f *testing.F)   { fuzzKernel(f, implGFNIYMM) }
