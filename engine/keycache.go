package engine

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tde-go/tde/ctr"
	"github.com/tde-go/tde/keys"
	"github.com/tde-go/tde/sm4"
)

// keystream is what ctr.Keystream and sm4.Keystream have in common: a
// seekable, stateless CTR keystream.
type keystream interface {
	XORKeyStreamAt(dst, src []byte, offset uint64)
}

// destroyer is what ctr.Cipher and sm4.Cipher have in common besides
// Keystream, whose result types differ.
type destroyer interface{ Destroy() }

// keyCipher is the expanded form of one data key, shared by every file the
// key encrypts, with a count of the open files and files being created that
// use it: a key with any is not retired even if no dictionary entry names
// it any more (a reader keeps its handle after re-encryption renamed a new
// copy over its file).
type keyCipher struct {
	id     uint64
	method keys.Method
	newKS  func(iv [16]byte) keystream
	c      destroyer
	refs   atomic.Int64
}

// keyCache holds one keyCipher per data key in use, built on first use.
type keyCache struct {
	reg *keys.Registry
	mu  sync.RWMutex
	m   map[uint64]*keyCipher
}

func newKeyCache(reg *keys.Registry) *keyCache {
	return &keyCache{reg: reg, m: make(map[uint64]*keyCipher)}
}

// acquire returns the cipher of key id with one more reference; release
// drops it. The lookup and the increment happen under the cache's lock, so
// retain, which holds it exclusively, sees every reference taken.
func (c *keyCache) acquire(id uint64) (*keyCipher, error) {
	c.mu.RLock()
	kc := c.m[id]
	if kc != nil {
		kc.refs.Add(1)
	}
	c.mu.RUnlock()
	if kc != nil {
		return kc, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kc = c.m[id]; kc == nil {
		dk, err := c.reg.Key(id)
		if err != nil {
			return nil, err
		}
		if kc, err = newKeyCipher(dk); err != nil {
			return nil, err
		}
		c.m[id] = kc
	}
	kc.refs.Add(1)
	return kc, nil
}

func (c *keyCache) release(kc *keyCipher) { kc.refs.Add(-1) }

func newKeyCipher(dk *keys.DataKey) (*keyCipher, error) {
	kc := &keyCipher{id: dk.ID(), method: dk.Method()}
	switch dk.Method() {
	case keys.MethodAES128CTR, keys.MethodAES192CTR, keys.MethodAES256CTR:
		c, err := ctr.NewCipher(dk.Key())
		if err != nil {
			return nil, fmt.Errorf("engine: data key %s: %w", keys.FormatID(dk.ID()), err)
		}
		kc.c, kc.newKS = c, func(iv [16]byte) keystream { return c.Keystream(iv) }
	case keys.MethodSM4CTR:
		c, err := sm4.NewCipher(dk.Key())
		if err != nil {
			return nil, fmt.Errorf("engine: data key %s: %w", keys.FormatID(dk.ID()), err)
		}
		kc.c, kc.newKS = c, func(iv [16]byte) keystream { return c.Keystream(iv) }
	default:
		return nil, fmt.Errorf("engine: data key %s has method %v: %w", keys.FormatID(dk.ID()), dk.Method(), keys.ErrUnknownMethod)
	}
	return kc, nil
}

// retain lets the registry drop every key that no dictionary entry, open
// file or file being created uses, and wipes their ciphers. It holds the
// cache exclusively so no reference can be taken while it decides.
func (c *keyCache) retain(inDict func(id uint64) bool, drop func(inUse func(uint64) bool) (int, error)) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := drop(func(id uint64) bool {
		if kc := c.m[id]; kc != nil && kc.refs.Load() > 0 {
			return true
		}
		return inDict(id)
	})
	for id, kc := range c.m {
		if _, err := c.reg.Key(id); err != nil {
			kc.c.Destroy()
			delete(c.m, id)
		}
	}
	return n, err
}

// destroy wipes every cipher; the registry zeroes the key bytes itself.
func (c *keyCache) destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, kc := range c.m {
		kc.c.Destroy()
		delete(c.m, id)
	}
}
