package keys

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// staleness says why the active key should be replaced for method, or "" if
// it should not: a method change (a new key, never one of another length
// reused: tikv#7560), or age past the rotation period.
func (r *Registry) staleness(st *state, method Method) string {
	active := st.active
	switch {
	case method == MethodPlaintext && active == plaintextKey:
		return ""
	case active.method != method:
		return "method changed from " + active.method.String() + " to " + method.String()
	case r.now().Sub(active.created) >= r.period:
		return "active key older than the rotation period " + r.period.String()
	}
	return ""
}

// rotated returns st with a new active key for method (the plaintext key if
// method is plaintext), keeping every existing key and st's master key.
func (r *Registry) rotated(st *state, method Method) (*state, error) {
	next := &state{keys: maps.Clone(st.keys), active: plaintextKey, master: st.master}
	if method == MethodPlaintext {
		return next, nil
	}
	k, err := newDataKey(r.rand, method, r.now().UTC(), func(id uint64) bool { _, ok := st.keys[id]; return ok })
	if err != nil {
		return nil, err
	}
	next.keys[k.id] = k
	next.active = k
	return next, nil
}

// commit writes next and publishes it; on failure it destroys the keys in
// next that cur does not have and leaves the registry as it was, except
// that if the new file may be live (ErrRegistryUncertain) the registry
// goes on under next's master key (see inDoubt).
func (r *Registry) commit(ctx context.Context, cur, next *state) error {
	if err := r.write(ctx, next); err != nil {
		for id, k := range next.keys {
			if _, ok := cur.keys[id]; !ok {
				k.Destroy()
			}
		}
		if errors.Is(err, ErrRegistryUncertain) {
			r.st.Store(inDoubt(cur, next))
			r.log.Error("tde: key registry write may or may not be durable; keep both master keys until a retry succeeds",
				"path", r.path, "from", cur.master.String(), "to", next.master.String(), "err", err)
		}
		return err
	}
	r.st.Store(next)
	return nil
}

// lock takes the writers' lock, or fails if the registry is closed.
func (r *Registry) lock() error {
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// MaybeRotate makes a new data key if the active one is older than the
// rotation period, and reports whether it did. The engine calls it
// periodically; it costs a clock read when there is nothing to do.
func (r *Registry) MaybeRotate(ctx context.Context) (bool, error) {
	if st := r.st.Load(); r.staleness(st, st.active.method) == "" {
		return false, nil
	}
	if err := r.lock(); err != nil {
		return false, err
	}
	defer r.mu.Unlock()
	cur := r.st.Load()
	reason := r.staleness(cur, cur.active.method)
	if reason == "" {
		return false, nil // another goroutine rotated first
	}
	if err := r.rotate(ctx, cur, cur.active.method, reason); err != nil {
		return false, err
	}
	return true, nil
}

func (r *Registry) rotate(ctx context.Context, cur *state, method Method, reason string) error {
	next, err := r.rotated(cur, method)
	if err != nil {
		return err
	}
	if err := r.commit(ctx, cur, next); err != nil {
		return err
	}
	if next.active != plaintextKey {
		r.logRotation(next, reason)
	}
	return nil
}

// RotateDataKey makes a new data key for the current method now, whatever
// the active key's age. Under the plaintext method there is no key to
// rotate and it does nothing.
func (r *Registry) RotateDataKey(ctx context.Context) error {
	if err := r.lock(); err != nil {
		return err
	}
	defer r.mu.Unlock()
	cur := r.st.Load()
	if cur.active == plaintextKey {
		return nil
	}
	return r.rotate(ctx, cur, cur.active.method, "requested")
}

// SetMethod changes the method of new files. A change makes a new data key
// of the new method's length (or, to plaintext, makes new files plaintext);
// a key is never reused for another method. Setting the current method does
// nothing.
func (r *Registry) SetMethod(ctx context.Context, m Method) error {
	if !m.valid() {
		return fmt.Errorf("%w %v", ErrUnknownMethod, m)
	}
	if err := r.lock(); err != nil {
		return err
	}
	defer r.mu.Unlock()
	cur := r.st.Load()
	if cur.active.method == m {
		return nil
	}
	return r.rotate(ctx, cur, m, "method changed from "+cur.active.method.String()+" to "+m.String())
}

// RotateMasterKey rewraps the registry under newKey, on the open registry,
// without reopening it, and makes a new data key (a master key is changed
// when it may have leaked, and with it every key it protected). The file is
// replaced atomically: until the rename it is wrapped under the old key,
// after it under the new one. On error nothing changed, except after
// ErrRegistryUncertain: the file in the directory may be the new one, the
// registry goes on under newKey (see inDoubt), the active data key stays,
// and calling RotateMasterKey again with the same key converges. The
// caller still owns the old key and may close it once this returns; it
// owns newKey too and must keep it open while the registry uses it (after
// success or ErrRegistryUncertain).
func (r *Registry) RotateMasterKey(ctx context.Context, newKey MasterKey) error {
	if newKey == nil {
		return errors.New("keys: RotateMasterKey: new master key is nil (use keys.Plaintext() for none)")
	}
	if err := r.lock(); err != nil {
		return err
	}
	defer r.mu.Unlock()
	cur := r.st.Load()
	next, err := r.rotated(&state{keys: cur.keys, active: cur.active, master: newKey}, cur.active.method)
	if err != nil {
		return err
	}
	if err := r.commit(ctx, cur, next); err != nil {
		return err
	}
	r.log.Info("tde: master key rotated", "path", r.path, "from", cur.master.String(), "to", newKey.String())
	if next.active != plaintextKey {
		r.logRotation(next, "master key changed")
	}
	r.warnIfPlaintext(next)
	return nil
}

// Retain drops every data key that is neither active nor reported in use by
// inUse, and returns how many it dropped; their bytes are zeroed. The caller
// knows which keys files use (the engine's file dictionary): inUse must
// answer true for every key a file still uses or may yet be created with,
// and must not call back into the registry. Nothing is written if no key is
// dropped.
func (r *Registry) Retain(ctx context.Context, inUse func(id uint64) bool) (int, error) {
	if err := r.lock(); err != nil {
		return 0, err
	}
	defer r.mu.Unlock()
	cur := r.st.Load()
	next := &state{keys: make(map[uint64]*DataKey, len(cur.keys)), active: cur.active, master: cur.master}
	var dropped []*DataKey
	for id, k := range cur.keys {
		if k == cur.active || inUse(id) {
			next.keys[id] = k
		} else {
			dropped = append(dropped, k)
		}
	}
	if len(dropped) == 0 {
		return 0, nil
	}
	if err := r.commit(ctx, cur, next); err != nil {
		return 0, err
	}
	for _, k := range dropped {
		r.log.Info("tde: dropped data key no file uses", "path", r.path, "key", FormatID(k.id), "method", k.method.String())
		k.Destroy()
	}
	return len(dropped), nil
}
