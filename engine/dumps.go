package engine

import (
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/errors/oserror"
	"github.com/tde-go/tde/internal/secmem"
	"github.com/tde-go/tde/keys"
)

// Keys out of core dumps and swap. Two layers: the process is made
// non-dumpable before Open loads a master key (disableCoreDumps, unless
// Config.KeepCoreDumps), and every key byte the engine keeps (master key,
// data keys, round keys) is in internal/secmem's locked, MADV_DONTDUMP
// arena whatever the setting, so even a core the operator asked for leaves
// them out.

// mayHoldKeys reports whether Open is about to hold key material: an
// encrypting method, a master key that is a key, or a registry already on
// disk (a plaintext-wrapped one holds data keys in clear). It is decided
// before any key is loaded; an unreadable registry counts as present.
func (f *FS) mayHoldKeys() bool {
	cfg := f.cfg
	if cfg.Method != keys.MethodPlaintext || isKey(cfg.MasterKey) || isKey(cfg.PreviousMasterKey) {
		return true
	}
	_, err := f.base.Stat(f.base.PathJoin(f.dir, keys.RegistryFile))
	return !oserror.IsNotExist(err)
}

// isKey reports whether c names a master key with key material.
func isKey(c MasterKeyConfig) bool {
	if c.Key != nil {
		return c.Key.Kind() != keys.KindPlaintext
	}
	return c.Type != "" && c.Type != keys.KindPlaintext
}

// protectProcess disables core dumps unless the configuration keeps them,
// and warns if it cannot: the process then goes on, its keys still out of
// dumps by secmem where the OS allows.
func (f *FS) protectProcess() {
	if f.cfg.KeepCoreDumps {
		return
	}
	if err := disableCoreDumps(); err != nil {
		f.log.Warn("tde: cannot make the process non-dumpable; a core dump of it may hold keys", "err", err)
	}
}

// keyMemoryWarned makes the warning about key memory once per process:
// the arena is process-wide, and every Open would repeat it.
var keyMemoryWarned atomic.Bool

// warnKeyMemory logs, once per process, what secmem could not protect.
func warnKeyMemory(log *slog.Logger, st secmem.State, warned *atomic.Bool) {
	if st.Err == nil || !warned.CompareAndSwap(false, true) {
		return
	}
	log.Warn("tde: key memory is not fully protected", "locked_against_swap", st.Locked, "out_of_core_dumps", st.NoDump, "err", st.Err)
}
