package engine

import (
	"context"
	"errors"
	"time"

	"github.com/tde-go/tde/keys"
)

// rotationCheck is how often the FS asks the registry whether the active data
// key has aged past the rotation period: often enough that a key is never
// used much past its period, and a check is only a clock read.
func (f *FS) rotationCheck() time.Duration {
	if f.cfg.rotationCheck > 0 {
		return f.cfg.rotationCheck
	}
	p := f.cfg.RotationPeriod
	if p <= 0 {
		p = keys.DefaultRotationPeriod
	}
	return min(time.Minute, max(p/16, time.Second))
}

// rotationLoop rotates the data key when it ages past the period and drops
// keys no file uses any more, until Close.
func (f *FS) rotationLoop() {
	defer f.loop.Done()
	t := time.NewTicker(f.rotationCheck())
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		ctx := context.Background()
		if _, err := f.reg.MaybeRotate(ctx); err != nil {
			f.log.Error("tde: data key rotation failed; the current key stays active", "err", err)
		}
		if _, err := f.retain(ctx); err != nil {
			f.log.Error("tde: cannot drop unused data keys", "err", err)
		}
	}
}

// RotateDataKey makes a new data key active now: files created from here on
// use it; existing files keep theirs until rewritten or re-encrypted.
func (f *FS) RotateDataKey() error {
	defer f.inflight()()
	if f.closed.Load() {
		return ErrClosed
	}
	if err := f.refuseReadOnly("rotate data key", ""); err != nil {
		return err
	}
	return f.reg.RotateDataKey(context.Background())
}

// RotateMasterKey rewraps the key registry under a new master key on the
// open store, atomically, with no reopen (TiKV and CockroachDB both need a
// restart), and makes a new data key. The old master key is closed if the
// FS loaded it. Afterwards, reopen the store with the new key as MasterKey
// (the old one is no longer needed, not even as PreviousMasterKey).
//
// An error matching keys.ErrRegistryUncertain means the new registry was
// renamed into place but its directory sync failed: it may be live, and
// after a crash either it or the old one may be. The FS then goes on with
// newKey as its master key (the old active data key stays active, see
// keys.Registry.RotateMasterKey); keep both keys, and call RotateMasterKey
// again with newKey: once it succeeds, only newKey opens the store.
func (f *FS) RotateMasterKey(newKey MasterKeyConfig) error {
	defer f.inflight()()
	if f.closed.Load() {
		return ErrClosed
	}
	if err := f.refuseReadOnly("rotate master key", ""); err != nil {
		return err
	}
	f.masterMu.Lock()
	defer f.masterMu.Unlock()
	ctx := context.Background()
	if isKey(newKey) {
		f.protectProcess()
	}
	k, owned, err := newKey.load(ctx, f.cfg.AllowLooseKeyPermissions)
	if err != nil {
		return err
	}
	err = f.reg.RotateMasterKey(ctx, k)
	if err != nil && !errors.Is(err, keys.ErrRegistryUncertain) {
		if owned {
			k.Close()
		}
		return err
	}
	// The registry is wrapped under k now, even if maybe not durably.
	old, oldOwned := f.master, f.masterOwned
	f.master, f.masterOwned = k, owned
	if oldOwned {
		old.Close()
	}
	return err
}

// retain drops the data keys no file uses and no open file holds.
func (f *FS) retain(ctx context.Context) (int, error) {
	// A removed file's entry keeps its key until the removal's record is
	// written, and an epoch its key while it runs: write the records
	// waiting, and end an epoch of a key no longer active, so they can go.
	if err := f.dict.flush(f.reg.Active().ID()); err != nil {
		return 0, err
	}
	return f.keys.retain(f.dict.keyInUse, func(inUse func(uint64) bool) (int, error) {
		return f.reg.Retain(ctx, inUse)
	})
}
