package ctr

import "testing"

func FuzzAESNI(f *testing.F)   { fuzzKernel(f, implAESNI) }
func FuzzVAESYMM(f *testing.F) { fuzzKernel(f, implVAESYMM) }
func FuzzVAESZMM(f *testing.F) { fuzzKernel(f, implVAESZMM) }
