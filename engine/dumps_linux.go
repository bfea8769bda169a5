//go:build linux

package engine

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// disableCoreDumps makes the process non-dumpable (PR_SET_DUMPABLE 0) and
// lowers the soft RLIMIT_CORE to 0. Non-dumpable is what holds: no core
// file whatever the rlimit or core_pattern (a pipe to a crash collector
// ignores RLIMIT_CORE), no ptrace attach by a non-root process of the same
// user, and /proc/<pid>/mem and the like become root's. Both are
// process-wide and not undone at Close: another FS, or the same store
// reopened, may still hold keys.
func disableCoreDumps() error {
	var errs []error
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		errs = append(errs, fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err))
	}
	if err := lowerCoreLimit(); err != nil {
		errs = append(errs, fmt.Errorf("setrlimit(RLIMIT_CORE): %w", err))
	}
	return errors.Join(errs...)
}
