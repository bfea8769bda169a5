// Package sm4 implements SM4-CTR (GB/T 32907-2016) as a seekable keystream,
// with the API of package ctr so the two can be swapped: any byte offset
// can be encrypted or decrypted without state, from many goroutines.
//
// The output is byte-for-byte that of SM4 under crypto/cipher.NewCTR (as
// with github.com/emmansun/gmsm/sm4): block i of a keystream is the
// encryption of IV+i, the IV read as a 128-bit big-endian integer, modulo
// 2^128.
package sm4

import (
	"crypto/cipher"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/tde-go/tde/internal/ctrmode"
	"github.com/tde-go/tde/internal/secmem"
)

// BlockSize is the SM4 block size in bytes.
const BlockSize = 16

// KeySize is the only SM4 key size, in bytes.
const KeySize = 16

// KeySizeError reports a key whose length is not 16 bytes.
type KeySizeError int

func (k KeySizeError) Error() string {
	return "sm4: invalid key length " + strconv.Itoa(int(k)) + " bytes (want 16)"
}

// IVSizeError reports an IV whose length is not 16 bytes.
type IVSizeError int

func (k IVSizeError) Error() string {
	return "sm4: invalid IV length " + strconv.Itoa(int(k)) + " bytes (want 16)"
}

// Cipher is an expanded SM4 key. It is immutable once built and safe for
// concurrent use: build one per key and share it across every keystream
// that key produces.
//
// The round keys live outside the Go heap, in memory locked against swap
// and left out of core dumps where the OS allows (internal/secmem); they
// are zeroed and their memory reused once the Cipher is unreachable. Use a
// Cipher through its pointer: a copy of the struct does not keep them.
type Cipher struct {
	// rk is the *roundKeys, held as an unsafe.Pointer because fmt prints
	// that as an address at any depth and never follows it, whatever the
	// verb (see ctr.Cipher). It points into a secmem slot, which a cleanup
	// on the Cipher frees: XORKeyStreamAt, String and Destroy, the only ways
	// in, keep the Cipher alive (runtime.KeepAlive) until they return.
	rk   unsafe.Pointer
	impl impl // the kernel this Cipher runs; fixed at construction
}

func (c *Cipher) roundKeys() *roundKeys { return (*roundKeys)(c.rk) }

// NewCipher expands a 16-byte SM4 key.
func NewCipher(key []byte) (*Cipher, error) {
	return newCipher(key, defaultImpl)
}

func newCipher(key []byte, k impl) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, KeySizeError(len(key))
	}
	mem, err := secmem.Alloc(int(unsafe.Sizeof(roundKeys{})))
	if err != nil {
		return nil, err // unreachable: the round keys fit a slot
	}
	rk := (*roundKeys)(unsafe.Pointer(unsafe.SliceData(mem)))
	expandKey(rk, (*[KeySize]byte)(key))
	c := &Cipher{rk: unsafe.Pointer(rk), impl: k}
	runtime.AddCleanup(c, secmem.Free, mem)
	return c, nil
}

// String names the cipher without revealing the key.
func (c *Cipher) String() string { return "sm4.Cipher" }

// GoString is String, so %#v does not print the round keys.
func (c *Cipher) GoString() string { return c.String() }

// Destroy zeroes the round keys, for a key being retired. Call it only when
// no keystream of c will be used again: afterwards they produce a stream
// that is not the key's, and nothing else. The memory itself is released
// only when c is unreachable, so a stale keystream never reads another
// key's round keys.
func (c *Cipher) Destroy() {
	clear(c.roundKeys()[:])
	runtime.KeepAlive(c)
}

// Keystream is the SM4-CTR keystream of one (key, IV) pair: a small value
// with no position, so any number of goroutines may use one at once.
type Keystream struct {
	c      *Cipher
	hi, lo uint64 // the IV as a 128-bit big-endian integer
}

// Keystream returns the keystream that starts at counter block iv.
func (c *Cipher) Keystream(iv [16]byte) Keystream {
	hi, lo := ctrmode.SplitIV(&iv)
	return Keystream{c: c, hi: hi, lo: lo}
}

// XORKeyStreamAt XORs src with the keystream starting offset bytes into it
// and writes the result to dst. offset need not be a multiple of the block
// size. dst and src must overlap entirely or not at all; len(dst) must be at
// least len(src). Either mistake panics, as in crypto/cipher.
func (k Keystream) XORKeyStreamAt(dst, src []byte, offset uint64) {
	dst = ctrmode.Check("sm4", dst, src)
	if len(src) == 0 {
		return
	}
	c := k.c
	hi, lo := ctrmode.Add128(k.hi, k.lo, offset/BlockSize)
	skip := int(offset % BlockSize)
	if len(src) >= BlockSize && c.xorAll(dst, src, skip, hi, lo) {
		runtime.KeepAlive(c) // the round keys are in c's secmem slot, which c's cleanup frees
		return
	}
	c.xorSplit(dst, src, skip, hi, lo)
	runtime.KeepAlive(c)
}

// xorSplit is XORKeyStreamAt for kernels that work in whole blocks, for
// calls under a block, and where the low 64 bits of the counter wrap inside
// a call. A partial block at either end goes through a stack buffer.
func (c *Cipher) xorSplit(dst, src []byte, skip int, hi, lo uint64) {
	if skip != 0 {
		var b [BlockSize]byte
		n := copy(b[skip:], src)
		c.xorBlocks(b[:], b[:], 1, hi, lo)
		copy(dst, b[skip:skip+n])
		dst, src = dst[n:], src[n:]
		hi, lo = ctrmode.Add128(hi, lo, 1)
	}
	for len(src) >= BlockSize {
		n := ctrmode.BlocksUntilWrap(lo, uint64(len(src)/BlockSize))
		c.xorBlocks(dst, src, int(n), hi, lo)
		dst, src = dst[n*BlockSize:], src[n*BlockSize:]
		hi, lo = ctrmode.Add128(hi, lo, n)
	}
	if len(src) != 0 {
		var b [BlockSize]byte
		copy(b[:], src)
		c.xorBlocks(b[:], b[:], 1, hi, lo)
		copy(dst, b[:len(src)])
	}
}

// Stream returns a cipher.Stream that starts offset bytes into the
// keystream and advances as it is used. Unlike the Keystream it comes from,
// a Stream has a position and must not be shared between goroutines.
func (k Keystream) Stream(offset uint64) cipher.Stream {
	return ctrmode.NewStream("sm4", k, offset)
}

// NewCTR is a drop-in for cipher.NewCTR over an SM4 block cipher: the
// returned stream produces the same bytes.
func NewCTR(key, iv []byte) (cipher.Stream, error) {
	if len(iv) != BlockSize {
		return nil, IVSizeError(len(iv))
	}
	c, err := NewCipher(key)
	if err != nil {
		return nil, err
	}
	return c.Keystream([16]byte(iv)).Stream(0), nil
}

// Backend names the kernel that NewCipher's ciphers run on this machine.
func Backend() string { return defaultImpl.String() }
