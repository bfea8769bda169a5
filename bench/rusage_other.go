//go:build !unix

package bench

import "time"

// processCPU is unavailable here: CPU figures read as zero.
func processCPU() (user, sys time.Duration, ok bool) { return 0, 0, false }

func kernelRelease() string { return "" }
