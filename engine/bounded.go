package engine

import (
	"bytes"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// maxDictionarySize bounds the file dictionary's log that an open reads
// into memory: 1 GiB. A put takes about 30 bytes plus its path, and a
// rewrite keeps the log under about twice its live entries, so this is
// several million files, well past any Pebble store; a larger log (a sparse
// or damaged file, or one an attacker grew) is refused before anything is
// allocated for it, rather than exhausting memory. A variable for tests.
var maxDictionarySize int64 = 1 << 30

// readDictionaryLog reads the log f, at path, whole. Its size is checked
// before anything is allocated, and the read stops at the bound whatever
// Stat said (a file that grows meanwhile, a Stat that fails).
func readDictionaryLog(f vfs.File, path string) ([]byte, error) {
	var size int64 // a hint only: the read below enforces the bound
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	if size > maxDictionarySize {
		return nil, tooLargeDictionary(path, size)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)+bytes.MinRead))
	n, err := buf.ReadFrom(io.LimitReader(f, maxDictionarySize+1))
	if err != nil {
		return nil, fmt.Errorf("engine: reading file dictionary %s: %w", path, err)
	}
	if n > maxDictionarySize {
		return nil, tooLargeDictionary(path, n)
	}
	return buf.Bytes(), nil
}

func tooLargeDictionary(path string, size int64) error {
	return &CorruptDictionaryError{Path: path, Offset: -1,
		Reason: fmt.Sprintf("%d bytes or more, larger than the %d bytes a file dictionary may be (a sparse, damaged or foreign file)", size, maxDictionarySize)}
}
