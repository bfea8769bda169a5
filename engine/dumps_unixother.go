//go:build unix && !linux

package engine

// disableCoreDumps lowers the soft RLIMIT_CORE to 0: the one portable
// switch (no PR_SET_DUMPABLE outside Linux). It is process-wide and not
// undone at Close: another FS, or the same store reopened, may still hold
// keys.
func disableCoreDumps() error { return lowerCoreLimit() }
