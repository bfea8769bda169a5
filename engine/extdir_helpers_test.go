package engine

import (
	"encoding/hex"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// extName returns the dictionary's name for dir, a directory outside the
// store, from its TDE-DIR.
func extName(t testing.TB, fs vfs.FS, dir string) string {
	t.Helper()
	id, err := readDirID(fs, dir)
	if err != nil {
		t.Fatalf("the identifier of %s: %v", dir, err)
	}
	return extPrefix + hex.EncodeToString(id)
}
