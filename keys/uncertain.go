package keys

import "errors"

// ErrRegistryUncertain: a new registry file was renamed into place but
// syncing its directory failed. The new file is the one in the directory
// now and may already be durable; after a crash either it or the one it
// replaced may be current. Keep every master key either may be wrapped
// under until a write of the registry succeeds: retrying the operation
// converges.
var ErrRegistryUncertain = errors.New("keys: key registry may already be replaced")

// UncertainWriteError reports a registry write whose rename happened and
// whose directory sync failed. It matches ErrRegistryUncertain and the
// directory sync's error.
type UncertainWriteError struct {
	Path   string // the registry file
	Master string // the master key the new file is wrapped under (its description, never key bytes)
	Err    error  // the directory sync's error
}

func (e *UncertainWriteError) Error() string {
	return "keys: key registry " + e.Path + " was renamed into place but syncing its directory failed: " +
		"the new registry (wrapped under " + e.Master + ") may already be the current one, and after a crash " +
		"either it or the previous one may be; keep both master keys until a retry succeeds: " + e.Err.Error()
}

func (e *UncertainWriteError) Unwrap() []error { return []error{ErrRegistryUncertain, e.Err} }

// afterRename marks the error of the directory sync that follows a
// registry's rename: the new file may be live.
func afterRename(err error) error {
	if err == nil {
		return nil
	}
	return &UncertainWriteError{Err: err}
}

// inDoubt is the state a registry goes on with after a write of next over
// cur ended in ErrRegistryUncertain, when either file may be the one a
// crash leaves:
//
//   - the master key is next's: the file in the directory is wrapped under
//     it, and every later write wraps under it (a retry rewrites the file
//     durably);
//   - the keys and the active key stay cur's, which both files hold, so no
//     file is encrypted under a key a crash could take away. A key next
//     made was never used, and commit wipes it; a key next dropped stays
//     until a write succeeds.
func inDoubt(cur, next *state) *state {
	return &state{keys: cur.keys, active: cur.active, master: next.master}
}
