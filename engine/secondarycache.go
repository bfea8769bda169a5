package engine

import (
	"path"
	"strings"
)

// Pebble's secondary cache for shared storage (objstorageprovider/
// sharedcache) keeps blocks of remote tables in files SHARED-CACHE-NNN that
// it opens with OpenReadWrite and rewrites in place as it evicts. CTR cannot
// write a byte twice without applying one keystream to two plaintexts, so
// the engine refuses such writes (overwrite.go). The cache would still read
// correctly, but it would lose each block slot at its first eviction, log an
// error per miss, and cache nothing after a restart: a silent loss of the
// feature. Its files are refused at open instead, so pebble.Open fails once,
// saying why.
const secondaryCachePrefix = "SHARED-CACHE-"

// rewrittenInPlace reports whether rel is a file Pebble rewrites in place.
func rewrittenInPlace(rel string) bool {
	return strings.HasPrefix(path.Base(rel), secondaryCachePrefix)
}
