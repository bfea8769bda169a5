// Package pebblefile names the files Pebble keeps in a store directory, as
// Pebble spells them (internal/base.MakeFilename, vfs/atomicfs). The engine
// and tdectl learn them here and nowhere else, so a file kind a new Pebble
// adds is taught to tde once.
package pebblefile

import (
	"path"
	"strings"
)

const (
	// Lock is the file Pebble locks while a DB is open on the directory.
	Lock = "LOCK"

	// Current names the current MANIFEST in stores older than Pebble's
	// manifest marker.
	Current = "CURRENT"

	// ManifestPrefix starts every MANIFEST's name: MANIFEST-000001.
	ManifestPrefix = "MANIFEST-"

	// OptionsPrefix starts every OPTIONS file's name: OPTIONS-000003.
	OptionsPrefix = "OPTIONS-"

	// TableSuffix ends an sstable's name, BlobSuffix a blob file's.
	TableSuffix = ".sst"
	BlobSuffix  = ".blob"

	// MarkerPrefix starts the name of every atomicfs marker's file:
	// marker.<name>.<iteration>.<value>. Pebble's manifest and format
	// version markers are ones, and so is tde's file dictionary marker.
	MarkerPrefix = "marker."

	// ManifestMarkerPrefix starts the name of Pebble's manifest marker,
	// which names the current MANIFEST.
	ManifestMarkerPrefix = MarkerPrefix + "manifest."
)

// Immutable reports whether Pebble never writes to the file at the
// slash-separated path name once it is complete, so a copy renamed over it
// is the same file: tables, blob files, OPTIONS. WALs and MANIFESTs are
// appended to.
func Immutable(name string) bool {
	b := path.Base(name)
	return strings.HasSuffix(b, TableSuffix) || strings.HasSuffix(b, BlobSuffix) || strings.HasPrefix(b, OptionsPrefix)
}

// HoldsStore reports whether a directory listing names shows a Pebble
// store: a MANIFEST, a manifest marker, or CURRENT.
func HoldsStore(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, ManifestPrefix) || strings.HasPrefix(n, ManifestMarkerPrefix) || n == Current {
			return true
		}
	}
	return false
}
