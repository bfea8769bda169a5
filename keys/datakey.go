package keys

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// DataKey is a key that encrypts files. The registry owns its data keys: the
// bytes Key returns stay valid until the registry drops the key (Retain) or
// is closed, when they are zeroed. A caller that needs them longer builds
// its cipher from them first. They are in locked memory left out of core
// dumps (internal/secmem), which is reused once the DataKey is
// unreachable: keep the DataKey while using them.
//
// A DataKey prints as its id, method and creation time, in every format
// verb, as a value or a pointer; its bytes never appear in any output of
// this package.
type DataKey struct {
	id      uint64
	method  Method
	created time.Time
	key     *secret
}

// plaintextKey is the active key while the method is plaintext: id 0, no
// bytes. Random ids are never 0, so 0 always means "not encrypted".
var plaintextKey = &DataKey{method: MethodPlaintext}

// ID is the key's random, non-zero identifier (0 for the plaintext key). The
// engine records it for every file the key encrypts.
func (k DataKey) ID() uint64 { return k.id }

// Method is the method the key was made for; its length is the method's.
func (k DataKey) Method() Method { return k.method }

// Created is when the key was made, by the registry's clock.
func (k DataKey) Created() time.Time { return k.created }

// Key returns the key bytes (a view, not a copy), or nil for the plaintext
// key and for a destroyed key. Do not modify them.
func (k DataKey) Key() []byte { return k.key.bytes() }

// Destroy zeroes the key bytes. The registry calls it for the keys it drops
// and at Close.
func (k DataKey) Destroy() { k.key.destroy() }

// String describes the key without its bytes.
func (k DataKey) String() string {
	if k.id == 0 {
		return "keys.DataKey(0, plaintext)"
	}
	return "keys.DataKey(" + FormatID(k.id) + ", " + k.method.String() + ", created " +
		k.created.UTC().Format(time.RFC3339) + ")"
}

// GoString is String, so %#v does not print fields.
func (k DataKey) GoString() string { return k.String() }

// Format writes String for every verb, so no verb (%x, %d, %+v…) reaches the
// fields.
func (k DataKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue logs the key as its description.
func (k DataKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// FormatID writes a key id as the registry and tdectl show it: 16 hex
// digits.
func FormatID(id uint64) string { return fmt.Sprintf("%016x", id) }

// KeyInfo is a data key's metadata, without its bytes: what status reports
// and tdectl list.
type KeyInfo struct {
	ID      uint64
	Method  Method
	Created time.Time
	Active  bool // the key new files are encrypted with
}

// String is one line for status output: id, method, creation time.
func (i KeyInfo) String() string {
	s := FormatID(i.ID) + " " + i.Method.String() + " created " + i.Created.UTC().Format(time.RFC3339)
	if i.Active {
		s += " (active)"
	}
	return s
}

// newDataKey makes a key for method m with a random id that is neither 0
// nor in taken: a collision must never replace a key in use (tikv#14585).
func newDataKey(r io.Reader, m Method, created time.Time, taken func(uint64) bool) (*DataKey, error) {
	var id uint64
	for {
		b, err := randomBytes(r, 8)
		if err != nil {
			return nil, err
		}
		id = binary.BigEndian.Uint64(b)
		if id != 0 && !taken(id) {
			break
		}
	}
	b, err := randomBytes(r, m.KeySize())
	if err != nil {
		return nil, err
	}
	k := &DataKey{id: id, method: m, created: created, key: newSecret(b)}
	clear(b)
	return k, nil
}
