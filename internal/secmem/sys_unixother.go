//go:build unix && !linux

package secmem

import "errors"

// noDump has no portable way outside Linux (FreeBSD's MADV_NOCORE is not in
// x/sys for every BSD): the memory is still out of the Go heap and locked,
// and the engine's non-dumpable settings keep core files from being
// written.
func noDump([]byte) error {
	return errors.New("secmem: this OS cannot leave memory out of core dumps")
}
