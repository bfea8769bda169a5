//go:build !linux

package bench

import "github.com/cockroachdb/pebble/v2/vfs"

// dropCached is Linux's posix_fadvise(POSIX_FADV_DONTNEED) where the
// benchmark is published; elsewhere the page cache is left as writes made
// it.
func dropCached(vfs.File) error { return nil }
