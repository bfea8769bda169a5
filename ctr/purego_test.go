//go:build purego

package ctr

// The Go Cryptographic Module refuses FIPS 140-3 mode in a purego build
// (crypto/internal/fips140/check panics at init), so TestFIPSBackend cannot
// run this binary under GODEBUG=fips140.
const puregoBuild = true
