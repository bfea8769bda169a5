//go:build !unix

package engine

import "os"

// sameFile cannot tell on this OS; privfile.Create's O_EXCL is the guard.
func sameFile(a, b os.FileInfo) bool { return true }
