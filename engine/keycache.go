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
//
// Dropping unused keys (retain) rewrites and fsyncs the registry, which can
// take seconds; the cache's lock is never held across it (cockroach#98051:
// every Open would wait). The protocol:
//
//  1. Under mu, retain decides which keys go (neither active, nor used by a
//     dictionary entry, nor referenced by an open or opening file) and marks
//     them retiring.
//  2. Without mu, it has the registry drop exactly the retiring keys.
//  3. Under mu, it wipes the ciphers of the keys the registry no longer has,
//     clears the marks and wakes the acquires that waited.
//
// acquire of a retiring key waits for step 3 and looks again: it then finds
// the key gone (ErrKeyNotFound) or, if the write failed, kept. So no
// reference is ever taken to a key being dropped, and acquire of any other
// key, cached or not, never waits for the registry's disk. Only one retain
// runs at a time (retainMu).
type keyCache struct {
	reg      *keys.Registry
	retainMu sync.Mutex // one retain at a time; never taken by acquire
	mu       sync.RWMutex
	m        map[uint64]*keyCipher
	retiring map[uint64]bool // under mu: keys a retain may be dropping
	retired  chan struct{}   // under mu: closed when the retiring keys are settled
	closed   bool            // under mu: destroyed, acquire fails
}

func newKeyCache(reg *keys.Registry) *keyCache {
	return &keyCache{reg: reg, m: make(map[uint64]*keyCipher)}
}

// acquire returns the cipher of key id with one more reference; release
// drops it. The lookup and the increment happen under the cache's lock,
// after checking that retain is not dropping the key, so retain sees every
// reference taken (see keyCache).
func (c *keyCache) acquire(id uint64) (*keyCipher, error) {
	for {
		c.mu.RLock()
		kc, wait, err := c.lookup(id)
		if kc != nil {
			kc.refs.Add(1)
		}
		c.mu.RUnlock()
		if wait != nil {
			<-wait
			continue
		}
		if kc != nil || err != nil {
			return kc, err
		}
		c.mu.Lock()
		kc, wait, err = c.lookup(id)
		if kc == nil && wait == nil && err == nil {
			var dk *keys.DataKey
			if dk, err = c.reg.Key(id); err == nil {
				if kc, err = newKeyCipher(dk); err == nil {
					c.m[id] = kc
				}
			}
		}
		if kc != nil {
			kc.refs.Add(1)
		}
		c.mu.Unlock()
		if wait != nil {
			<-wait
			continue
		}
		return kc, err
	}
}

// lookup returns id's cipher if cached, or the channel to wait on if a
// retain is dropping it, or ErrClosed. Call it under mu.
func (c *keyCache) lookup(id uint64) (*keyCipher, chan struct{}, error) {
	switch {
	case c.closed:
		return nil, nil, keys.ErrClosed
	case c.retiring[id]:
		return nil, c.retired, nil
	}
	return c.m[id], nil, nil
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
// file or file being created uses, and wipes their ciphers. It decides and
// marks the keys under the cache's lock, and lets drop write the registry
// without it (see keyCache). drop gets the decision as inUse, a fixed set:
// it must keep every key inUse reports and may drop the others.
func (c *keyCache) retain(inDict func(id uint64) bool, drop func(inUse func(uint64) bool) (int, error)) (int, error) {
	c.retainMu.Lock()
	defer c.retainMu.Unlock()
	active := c.reg.Active().ID()
	infos := c.reg.Keys()
	retiring := make(map[uint64]bool, len(infos))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, keys.ErrClosed
	}
	for _, k := range infos {
		if kc := c.m[k.ID]; k.ID == active || kc != nil && kc.refs.Load() > 0 || inDict(k.ID) {
			continue
		}
		retiring[k.ID] = true
	}
	if len(retiring) == 0 {
		c.mu.Unlock()
		return 0, nil
	}
	c.retiring, c.retired = retiring, make(chan struct{})
	c.mu.Unlock()

	// Keys made since the decision are not in retiring: kept. A key in it
	// cannot become active again (rotation always makes a new key).
	n, err := drop(func(id uint64) bool { return !retiring[id] })

	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range retiring {
		if _, kerr := c.reg.Key(id); kerr != nil {
			if kc := c.m[id]; kc != nil {
				kc.c.Destroy()
				delete(c.m, id)
			}
		}
	}
	close(c.retired)
	c.retiring, c.retired = nil, nil
	return n, err
}

// destroy wipes every cipher; the registry zeroes the key bytes itself.
func (c *keyCache) destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, kc := range c.m {
		kc.c.Destroy()
		delete(c.m, id)
	}
}
