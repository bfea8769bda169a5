module github.com/tde-go/tde/ctr/_asm

go 1.26.0

require (
	github.com/mmcloughlin/avo v0.6.0
	github.com/tde-go/tde v0.0.0-00010101000000-000000000000
)

require (
	github.com/klauspost/cpuid/v2 v2.4.2 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
)

replace github.com/tde-go/tde => ../..
