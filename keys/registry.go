package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RegistryFile is the registry's file name in the store directory; its
// temporary twin during a rewrite is RegistryFile + ".tmp".
const RegistryFile = "TDE-KEYS"

// DefaultRotationPeriod is how long a data key stays active by default: a
// week, as in TiKV.
const DefaultRotationPeriod = 168 * time.Hour

// RegistryConfig configures OpenRegistry.
type RegistryConfig struct {
	// Master is the current master key. Required: use Plaintext() for none.
	Master MasterKey
	// Previous is the master key the registry may still be wrapped under
	// while the master key is being changed; nil if none. A registry opened
	// with it is rewrapped under Master before OpenRegistry returns.
	Previous MasterKey
	// Method is the method new files are encrypted with. Required.
	Method Method
	// RotationPeriod is how long a data key stays active; 0 means
	// DefaultRotationPeriod.
	RotationPeriod time.Duration
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// Logger receives rotations and the plaintext warning; nil means
	// slog.Default(). Nothing logged carries key material.
	Logger *slog.Logger
	// ReadOnly opens the registry to inspect it: nothing on disk changes.
	// The registry must exist; it is unwrapped with Master or Previous
	// (so the master key is still verified) and used as it is, even if
	// its active key is past the rotation period or of another Method, or
	// it is wrapped under Previous. Every write fails with ErrReadOnly.
	ReadOnly bool

	rand io.Reader // the key source; nil means crypto/rand (tests inject collisions)
}

// Registry is the set of data keys of one store, persisted in one file
// wrapped under the master key. It is safe for concurrent use: readers
// (Active, Key, Keys) never wait for a write; writes are serialized, and a
// write that fails leaves both the file and the registry as they were.
type Registry struct {
	fs     FS
	dir    string
	path   string
	period time.Duration
	now    func() time.Time
	log    *slog.Logger
	rand   io.Reader

	mu     sync.Mutex // serializes writers; readers use st
	st     atomic.Pointer[state]
	closed atomic.Bool

	readOnly bool // RegistryConfig.ReadOnly: write refuses
}

// state is one immutable version of the registry; writers build a new one
// and publish it only once it is on disk.
type state struct {
	keys   map[uint64]*DataKey
	active *DataKey // plaintextKey while the method is plaintext
	master MasterKey
}

// OpenRegistry opens the registry in dir, creating it if absent.
//
// It unwraps the registry with cfg.Master or, failing that, cfg.Previous,
// and rewraps it under cfg.Master if Previous was needed. It makes a new
// data key if there is none, if the active one is older than the rotation
// period, if the method differs from the active key's, or if the master key
// changed. All of that is one atomic replacement of the file; a failed open
// changes nothing on disk.
//
// Errors: ErrWrongMasterKey (with ErrMissingPreviousKey if no previous key
// was given), ErrCorruptRegistry, ErrUnknownMethod, ErrKMSUnavailable and
// ErrKMSKeyNotFound, each naming the file or setting.
func OpenRegistry(ctx context.Context, fsys FS, dir string, cfg RegistryConfig) (*Registry, error) {
	if cfg.Master == nil {
		return nil, errors.New("keys: RegistryConfig.Master is nil (use keys.Plaintext() for no encryption)")
	}
	if !cfg.Method.valid() {
		return nil, fmt.Errorf("%w %v in RegistryConfig.Method", ErrUnknownMethod, cfg.Method)
	}
	if cfg.RotationPeriod < 0 {
		return nil, fmt.Errorf("keys: RegistryConfig.RotationPeriod %v is negative", cfg.RotationPeriod)
	}
	r := &Registry{
		fs:     fsys,
		dir:    dir,
		path:   fsys.PathJoin(dir, RegistryFile),
		period: cfg.RotationPeriod,
		now:    cfg.Now,
		log:    cfg.Logger,
		rand:   cfg.rand,

		readOnly: cfg.ReadOnly,
	}
	if r.period == 0 {
		r.period = DefaultRotationPeriod
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}

	data, err := readAll(fsys, r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !cfg.ReadOnly:
		return r.create(ctx, cfg)
	case errors.Is(err, ErrCorruptRegistry):
		return nil, err // names the file
	case err != nil:
		return nil, fmt.Errorf("keys: reading key registry %s: %w", r.path, err)
	}
	old, usedPrevious, err := r.decode(ctx, data, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		r.st.Store(old) // as on disk: no rotation, no rewrap, no cleanup
		r.warnIfPlaintext(old)
		return r, nil
	}
	next := old
	var reason string
	if usedPrevious {
		reason = "master key changed"
		next = &state{keys: old.keys, active: old.active, master: cfg.Master}
	} else {
		reason = r.staleness(old, cfg.Method)
	}
	if reason != "" {
		rot, err := r.rotated(next, cfg.Method)
		if err != nil {
			destroyAll(old.keys)
			return nil, err
		}
		if err := r.write(ctx, rot); err != nil {
			destroyAll(rot.keys) // the old keys and the new one
			return nil, err
		}
		next = rot
		r.logRotation(next, reason)
	}
	r.st.Store(next)
	r.warnIfPlaintext(next)
	// A temporary file left by a crash mid-write holds nothing we need.
	_ = fsys.Remove(r.path + ".tmp")
	return r, nil
}

func (r *Registry) create(ctx context.Context, cfg RegistryConfig) (*Registry, error) {
	st, err := r.rotated(&state{keys: map[uint64]*DataKey{}, active: plaintextKey, master: cfg.Master}, cfg.Method)
	if err != nil {
		return nil, err
	}
	if err := r.write(ctx, st); err != nil {
		st.active.Destroy()
		return nil, err
	}
	r.log.Info("tde: created key registry", "path", r.path, "master", cfg.Master.String(), "method", cfg.Method.String())
	if st.active != plaintextKey {
		r.logRotation(st, "new registry")
	}
	r.st.Store(st)
	r.warnIfPlaintext(st)
	return r, nil
}

// maxRegistrySize bounds the registry file: 4 MiB. A data key takes 50
// bytes, so this is some 80,000 keys, where a store rotating daily retires
// keys far faster than it makes them; a larger file (sparse, damaged,
// foreign) is refused after reading at most this much, rather than
// exhausting memory, and write never makes one. A variable for tests.
var maxRegistrySize = 4 << 20

// readAll reads the registry file, or fails with a *CorruptRegistryError
// past maxRegistrySize.
func readAll(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(maxRegistrySize)+1))
	if err == nil && len(data) > maxRegistrySize {
		clear(data)
		return nil, &CorruptRegistryError{Path: name, Reason: fmt.Sprintf("larger than the %d bytes a key registry may be (a sparse, damaged or foreign file)", maxRegistrySize)}
	}
	return data, err
}

// decode parses and unwraps a registry file with the current master key or
// the previous one, and reports which.
func (r *Registry) decode(ctx context.Context, data []byte, cfg RegistryConfig) (*state, bool, error) {
	h, aad, payload, err := decodeFile(data)
	if err != nil {
		return nil, false, &CorruptRegistryError{Path: r.path, Reason: err.Error()}
	}
	candidates := []MasterKey{cfg.Master}
	if cfg.Previous != nil {
		candidates = append(candidates, cfg.Previous)
	}
	var body []byte
	used := -1
	for _, i := range candidateOrder(candidates, h) {
		m := candidates[i]
		body, err = m.Unwrap(ctx, payload, aad)
		if err == nil {
			used = i
			break
		}
		if errors.Is(err, ErrWrongMasterKey) {
			continue
		}
		if m.Kind() == KindKMS && m.ID() != h.id && errors.Is(err, ErrCorruptRegistry) {
			// The registry names another KMS key, and this one says the
			// ciphertext is not its: AWS answers IncorrectKeyException
			// (ErrWrongMasterKey, above), but KMS-compatible servers such
			// as local-kms answer InvalidCiphertextException. Either way
			// this key did not make it. (The same key under another name,
			// alias for ARN, with an altered ciphertext reads as a wrong
			// key rather than a corrupt registry: refused all the same.)
			continue
		}
		if errors.Is(err, ErrCorruptRegistry) {
			return nil, false, &CorruptRegistryError{Path: r.path, Reason: fmt.Sprintf("%v (%s)", err, m)}
		}
		return nil, false, fmt.Errorf("keys: opening key registry %s: %w", r.path, err)
	}
	if used < 0 {
		given := make([]string, len(candidates))
		for i, m := range candidates {
			given[i] = m.String()
		}
		wrapped := h.kind
		if h.id != "" {
			wrapped += " " + h.id
		}
		return nil, false, &WrongMasterKeyError{Path: r.path, WrappedUnder: wrapped, Given: given, PreviousGiven: cfg.Previous != nil}
	}
	active, keys, err := decodeBody(body)
	clear(body)
	if err != nil {
		return nil, false, &CorruptRegistryError{Path: r.path, Reason: err.Error()}
	}
	st := &state{keys: make(map[uint64]*DataKey, len(keys)), active: plaintextKey, master: candidates[used]}
	for _, k := range keys {
		st.keys[k.id] = k
	}
	if active != 0 {
		st.active = st.keys[active]
	}
	return st, used > 0, nil
}

// candidateOrder is the order to try master keys in: those of the kind
// the registry records, the one with the id it records first. So a
// registry being moved to a new master key is opened with the previous
// key in one KMS call, not after a refused call with the new one.
func candidateOrder(candidates []MasterKey, h fileHeader) []int {
	var first, rest []int
	for i, m := range candidates {
		switch {
		case m.Kind() != h.kind:
		case m.ID() == h.id:
			first = append(first, i)
		default:
			rest = append(rest, i)
		}
	}
	return append(first, rest...)
}

// write replaces the registry file with st, atomically: the new file is
// written and synced under a temporary name, renamed over the old one, and
// the directory synced. If anything before the rename fails the old file is
// untouched and the temporary one removed; if the directory sync fails,
// the error is an *UncertainWriteError (ErrRegistryUncertain).
func (r *Registry) write(ctx context.Context, st *state) error {
	if r.readOnly {
		return fmt.Errorf("keys: key registry %s: %w", r.path, ErrReadOnly)
	}
	ids := make([]uint64, 0, len(st.keys))
	for id := range st.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	keys := make([]*DataKey, len(ids))
	for i, id := range ids {
		keys[i] = st.keys[id]
	}
	kind, id := st.master.Kind(), st.master.ID()
	if len(kind) > 0xff || len(id) > 0xffff {
		return fmt.Errorf("keys: master key kind (%d bytes) or id (%d bytes) too long for the registry", len(kind), len(id))
	}
	body := encodeBody(st.active.id, keys)
	header := encodeHeader(kind, id)
	payload, err := st.master.Wrap(ctx, body, header)
	clear(body)
	if err != nil {
		return fmt.Errorf("keys: wrapping key registry %s: %w", r.path, err)
	}
	data := encodeFile(header, payload)
	if st.master.Kind() == KindPlaintext {
		defer clear(data)
	}
	if len(data) > maxRegistrySize {
		return fmt.Errorf("keys: key registry %s: %d data keys take %d bytes, more than the %d bytes an open reads; retire unused keys first (re-encrypt the store)",
			r.path, len(keys), len(data), maxRegistrySize)
	}
	if err := writeAtomic(r.fs, r.dir, r.path, data); err != nil {
		if u, ok := err.(*UncertainWriteError); ok {
			u.Path, u.Master = r.path, st.master.String()
			return u
		}
		return fmt.Errorf("keys: writing key registry %s: %w", r.path, err)
	}
	return nil
}

func writeAtomic(fsys FS, dir, path string, data []byte) (err error) {
	tmp := path + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			_ = fsys.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = fsys.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	return afterRename(fsys.SyncDir(dir))
}

func (r *Registry) warnIfPlaintext(st *state) {
	if st.master.Kind() == KindPlaintext {
		r.log.Warn("tde: MASTER KEY IS PLAINTEXT: the key registry is stored unwrapped; anyone who can read it can read every data key and so every encrypted file",
			"path", r.path, "method", st.active.method.String(), "keys", len(st.keys))
	}
}

func (r *Registry) logRotation(st *state, reason string) {
	r.log.Info("tde: new data key", "path", r.path, "key", FormatID(st.active.id),
		"method", st.active.method.String(), "reason", reason)
}

func destroyAll(keys map[uint64]*DataKey) {
	for _, k := range keys {
		k.Destroy()
	}
}

// Path is the registry file.
func (r *Registry) Path() string { return r.path }

// Active is the key new files are encrypted with: the plaintext key (id 0,
// no bytes) while the method is plaintext. Do not use it after Close.
func (r *Registry) Active() *DataKey { return r.st.Load().active }

// Method is the method new files are encrypted with.
func (r *Registry) Method() Method { return r.st.Load().active.method }

// Master is the master key the registry is wrapped under now.
func (r *Registry) Master() MasterKey { return r.st.Load().master }

// Key returns the data key with the given id; id 0 is the plaintext key. An
// unknown id is an error matching ErrKeyNotFound.
func (r *Registry) Key(id uint64) (*DataKey, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if id == 0 {
		return plaintextKey, nil
	}
	if k, ok := r.st.Load().keys[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: id %s in %s", ErrKeyNotFound, FormatID(id), r.path)
}

// Keys lists the metadata of every data key, oldest first.
func (r *Registry) Keys() []KeyInfo {
	st := r.st.Load()
	out := make([]KeyInfo, 0, len(st.keys))
	for _, k := range st.keys {
		out = append(out, KeyInfo{ID: k.id, Method: k.method, Created: k.created, Active: k == st.active})
	}
	slices.SortFunc(out, func(a, b KeyInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	return out
}

func compareIDs(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Close zeroes every data key. The registry's master keys belong to the
// caller and stay open. Close is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Swap(true) {
		return nil
	}
	destroyAll(r.st.Load().keys)
	return nil
}

// String describes the registry without key material.
func (r *Registry) String() string {
	st := r.st.Load()
	if st == nil {
		return "keys.Registry(" + r.path + ")"
	}
	return fmt.Sprintf("keys.Registry(%s, %d keys, active %s, %s)", r.path, len(st.keys), st.active, st.master)
}

// GoString is String.
func (r *Registry) GoString() string { return r.String() }

// Format writes String for every verb.
func (r *Registry) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }
