//go:build purego

package engine

// Go refuses FIPS 140-3 mode in a purego build (crypto/internal/fips140/check
// panics at init): the tests that run this binary again under
// GODEBUG=fips140 cannot.
const puregoBuild = true
