package ctr

import "testing"

func FuzzARM64(f *testing.F) { fuzzKernel(f, implARM64) }
