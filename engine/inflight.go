package engine

import "os"

// In-flight operations and Close.
//
// Close wipes the key schedules, and an all-zero schedule is a keystream
// anyone can compute: no operation may use a key, or change the store,
// after it. Every FS method that may acquire a key, create a file or
// change the store holds f.ops shared for its whole run (defer
// f.inflight()()); Close holds it exclusively from before it checks for
// open files until the keys are wiped and the lock released. So an
// operation either ran to its end before Close looked (a file it opened is
// counted, and Close refuses with ErrFilesOpen), or starts after Close and
// finds the FS closed (ErrClosed). Gated methods must not call one another:
// a second shared hold waits behind a pending Close and deadlocks.
//
// Files need no gate: Close refuses while any is open, and a closed file
// refuses writes (file.usable) before its keystream is touched, whatever
// the base file would do.

// inflight holds the in-flight gate shared; call the result to leave it.
func (f *FS) inflight() func() {
	f.ops.RLock()
	return f.ops.RUnlock
}

// usable fails a write to a closed file before its keystream is touched:
// once the file is closed, its key may be wiped.
func (f *file) usable(op string) error {
	if f.closed.Load() {
		return &PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	return nil
}
