package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// MasterKey is a key-encryption key: it wraps the registry, which holds the
// data keys. tde never writes a master key anywhere but in a new key file
// it is asked to make (WriteKeyFile).
//
// The caller owns a MasterKey: the registry uses it but never closes it.
// Implementations must be safe for concurrent use, and must not put key
// material in String, in any fmt verb, or in errors.
type MasterKey interface {
	// Kind names the source: "file", "raw", "kms" or "plaintext". The
	// registry records it and only offers a registry to keys of its kind.
	Kind() string

	// ID identifies the key without revealing it (a fingerprint, a key id,
	// a KMS key name). The registry records it for error messages and
	// status.
	ID() string

	// String describes the key for people (kind, source, ID).
	String() string

	// Wrap encrypts plaintext and authenticates it and aad.
	Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error)

	// Unwrap reverses Wrap. If wrapped was made by another key, the error
	// matches ErrWrongMasterKey; if it was made by this key but it or aad
	// was altered, ErrCorruptRegistry.
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)

	// Close zeroes the key. Wrap and Unwrap fail with ErrClosed after it.
	Close() error
}

// Kinds of master key, as MasterKey.Kind returns them.
const (
	KindFile      = "file"      // 64 hex characters and a newline (TiKV)
	KindRaw       = "raw"       // 32-byte id + 16/24/32-byte key (CockroachDB)
	KindKMS       = "kms"       // the AWS KMS API
	KindPlaintext = "plaintext" // no encryption
)

const (
	fingerprintSize = 8
	gcmNonceSize    = 12
	gcmTagSize      = 16
)

// localKey is a master key held in memory (from a key file): AES-GCM with
// the key's own size (AES-256 for TiKV's 32-byte keys, AES-128/192/256 for
// CockroachDB's). Wrapped data is
//
//	fingerprint(8) | nonce(12) | ciphertext | tag(16)
//
// The fingerprint, an HMAC-SHA256 of a fixed label under the key, tells "a
// different key" apart from "altered data", which GCM alone cannot. Nonces
// are random: a registry is rewritten a few times a week, far below the
// 2^32 messages a random 96-bit nonce allows per key.
type localKey struct {
	kind   string
	source string // the file path, or "" when parsed from memory
	id     string
	fp     [fingerprintSize]byte
	bits   int

	mu  sync.RWMutex
	key *secret // nil once closed
}

func newLocalKey(kind, source, id string, key []byte) *localKey {
	k := &localKey{kind: kind, source: source, id: id, bits: 8 * len(key), key: newSecret(key)}
	k.fp = fingerprint(key)
	if id == "" {
		k.id = hex.EncodeToString(k.fp[:])
	}
	return k
}

// fingerprint identifies key without revealing it. It is an HMAC, not a
// block encryption under the key: AES_K(0) would be the GHASH key of every
// GCM message under K.
func fingerprint(key []byte) (fp [fingerprintSize]byte) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tde master key fingerprint v1"))
	copy(fp[:], m.Sum(nil))
	return fp
}

func (k *localKey) Kind() string { return k.kind }
func (k *localKey) ID() string   { return k.id }

func (k *localKey) String() string {
	src := ""
	if k.source != "" {
		src = fmt.Sprintf(" %q", k.source)
	}
	return fmt.Sprintf("%s master key%s (AES-%d-GCM, id %s)", k.kind, src, k.bits, k.id)
}

func (k *localKey) GoString() string           { return k.String() }
func (k *localKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// aead builds the GCM for one call, so the expanded key lives no longer
// than the call: the standard library gives no way to zero it.
func (k *localKey) aead() (cipher.AEAD, error) {
	b := k.key.bytes()
	if b == nil {
		return nil, ErrClosed
	}
	return newGCM(b)
}

// newGCM is AES-GCM that draws its own 96-bit nonce from crypto/rand and
// writes it before the ciphertext, on Seal (nonce argument nil), and reads
// it from there on Open: the bytes tde always wrote, nonce | ciphertext |
// tag. It is the form of GCM the Go Cryptographic Module approves in FIPS
// 140-3 mode (SP 800-38D 8.2.2, the IV generated inside the module);
// cipher.NewGCM with a caller's nonce is refused under fips140=only.
func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(blk)
}

func (k *localKey) Wrap(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	out := make([]byte, fingerprintSize, fingerprintSize+gcmNonceSize+len(plaintext)+gcmTagSize)
	copy(out, k.fp[:])
	return g.Seal(out, nil, plaintext, aad), nil // appends nonce | ciphertext | tag
}

func (k *localKey) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	if len(wrapped) < fingerprintSize+gcmNonceSize+gcmTagSize {
		return nil, fmt.Errorf("%w: wrapped payload of %d bytes is too short", ErrCorruptRegistry, len(wrapped))
	}
	if !hmac.Equal(wrapped[:fingerprintSize], k.fp[:]) {
		return nil, fmt.Errorf("%w: wrapped under master key id %x", ErrWrongMasterKey, wrapped[:fingerprintSize])
	}
	pt, err := g.Open(nil, nil, wrapped[fingerprintSize:], aad) // nonce | ciphertext | tag
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed under the master key that wrote it", ErrCorruptRegistry)
	}
	return pt, nil
}

func (k *localKey) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.key.destroy()
	return nil
}

// Plaintext returns the master key that is no key: the registry is stored
// unwrapped, readable by anyone who can read the store directory. The
// registry logs a warning whenever it uses it.
func Plaintext() MasterKey { return plaintextMaster{} }

type plaintextMaster struct{}

func (plaintextMaster) Kind() string                 { return KindPlaintext }
func (plaintextMaster) ID() string                   { return "" }
func (plaintextMaster) String() string               { return "plaintext master key (no encryption)" }
func (p plaintextMaster) GoString() string           { return p.String() }
func (p plaintextMaster) Format(f fmt.State, _ rune) { io.WriteString(f, p.String()) }
func (plaintextMaster) Close() error                 { return nil }

func (plaintextMaster) Wrap(_ context.Context, plaintext, _ []byte) ([]byte, error) {
	return append([]byte(nil), plaintext...), nil
}

func (plaintextMaster) Unwrap(_ context.Context, wrapped, _ []byte) ([]byte, error) {
	return append([]byte(nil), wrapped...), nil
}
