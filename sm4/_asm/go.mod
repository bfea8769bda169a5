module github.com/tde-go/tde/sm4/_asm

go 1.26.0

require github.com/mmcloughlin/avo v0.6.0

require (
	github.com/klauspost/cpuid/v2 v2.4.2 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
)

// avo reads the kernels' Go declarations from the sm4 package at run time.
require github.com/tde-go/tde v0.0.0

replace github.com/tde-go/tde => ../..
