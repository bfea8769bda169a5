// Package ctr implements AES-CTR (AES-128, AES-192 and AES-256) as a seekable
// keystream: any byte offset can be encrypted or decrypted without state, so
// one file can be read from many goroutines at once.
//
// The output is byte-for-byte identical to crypto/cipher.NewCTR over
// crypto/aes with the same key and IV: block i of a keystream is the
// encryption of IV+i, the IV read as a 128-bit big-endian integer, modulo
// 2^128. On amd64 and arm64 the blocks are encrypted by assembly kernels
// (AES-NI, VAES on ymm and zmm registers, ARMv8 AES), chosen once from the
// CPU's features; elsewhere, or with the purego build tag, by portable Go.
//
// In Go's FIPS 140-3 mode (crypto/fips140.Enabled) none of that runs: every
// Cipher from NewCipher, and every stream from NewCTR, is the standard
// library's crypto/aes and crypto/cipher, the Go Cryptographic Module, and
// Backend says "fips140" (fips.go). The bytes are the same either way.
package ctr

import (
	"crypto/cipher"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/tde-go/tde/internal/ctrmode"
	"github.com/tde-go/tde/internal/secmem"
)

// BlockSize is the AES block size in bytes.
const BlockSize = 16

// KeySizeError reports a key whose length is not 16, 24 or 32 bytes.
type KeySizeError int

func (k KeySizeError) Error() string {
	return "ctr: invalid AES key length " + strconv.Itoa(int(k)) + " bytes (want 16, 24 or 32)"
}

// IVSizeError reports an IV whose length is not 16 bytes.
type IVSizeError int

func (k IVSizeError) Error() string {
	return "ctr: invalid IV length " + strconv.Itoa(int(k)) + " bytes (want 16)"
}

// Cipher is an expanded AES key. It is immutable once built and safe for
// concurrent use: build one per key and share it across every keystream
// that key produces, so the key schedule runs once, not once per stream.
//
// The round keys live outside the Go heap, in memory locked against swap
// and left out of core dumps where the OS allows (internal/secmem); they
// are zeroed and their memory reused once the Cipher is unreachable. Use a
// Cipher through its pointer: a copy of the struct does not keep them.
type Cipher struct {
	// ks is the *schedule, held as an unsafe.Pointer because fmt prints
	// that as an address at any depth and never follows it, whatever the
	// verb: a typed pointer field is followed one level when a struct
	// holding it is printed with a verb it does not fit (%s, %q), and would
	// print the round keys. It points into a secmem slot, which a cleanup
	// on the Cipher frees: XORKeyStreamAt, String and Destroy, the only ways
	// in, keep the Cipher alive (runtime.KeepAlive) until they return.
	ks   unsafe.Pointer
	impl impl // the kernel this Cipher runs; fixed at construction

	// std is the standard library's AES block for implFIPS (ks is then
	// nil): tde's key schedule never sees the key (fips.go).
	std *fipsBlock
}

func (c *Cipher) schedule() *schedule { return (*schedule)(c.ks) }

type schedule struct {
	rk     roundKeys
	rounds int
}

// NewCipher expands an AES-128, AES-192 or AES-256 key, chosen by len(key).
// In FIPS 140-3 mode the key goes to crypto/aes.NewCipher instead, once:
// the Cipher keeps the standard library's block.
func NewCipher(key []byte) (*Cipher, error) {
	return newCipher(key, cipherImpl())
}

func newCipher(key []byte, k impl) (*Cipher, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, KeySizeError(len(key))
	}
	if k == implFIPS {
		return newFIPSCipher(key)
	}
	mem, err := secmem.Alloc(int(unsafe.Sizeof(schedule{})))
	if err != nil {
		return nil, err // unreachable: a schedule fits a slot
	}
	s := (*schedule)(unsafe.Pointer(unsafe.SliceData(mem)))
	s.rounds = expandKey(&s.rk, key)
	c := &Cipher{ks: unsafe.Pointer(s), impl: k}
	runtime.AddCleanup(c, secmem.Free, mem)
	return c, nil
}

// String names the cipher without revealing the key.
func (c *Cipher) String() string {
	if c.impl == implFIPS {
		return c.std.String()
	}
	s := "ctr.Cipher(AES-" + strconv.Itoa(32*(c.schedule().rounds-6)) + ")"
	runtime.KeepAlive(c)
	return s
}

// GoString is String, so %#v does not print the round keys.
func (c *Cipher) GoString() string { return c.String() }

// Destroy zeroes the expanded key, for a key being retired. Call it only when
// no keystream of c will be used again: afterwards they produce a stream
// that is not the key's, and nothing else. The memory itself is released
// only when c is unreachable, so a stale keystream never reads another
// key's schedule.
//
// A FIPS-mode Cipher (Backend "fips140") cannot zero the standard library's
// expanded key, which lives on the Go heap with no API to clear it: Destroy
// drops the Cipher's reference to it, for the garbage collector, and its
// keystreams then use an all-zero key (fips.go).
func (c *Cipher) Destroy() {
	if c.impl == implFIPS {
		c.std.destroy()
		return
	}
	clear(c.schedule().rk[:])
	runtime.KeepAlive(c)
}

// Keystream is the AES-CTR keystream of one (key, IV) pair. It is a small
// value: making one costs nothing, and it holds no position, so any number
// of goroutines may use the same Keystream at different offsets.
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
	dst = ctrmode.Check("ctr", dst, src)
	if len(src) == 0 {
		return
	}
	c := k.c
	if c.impl == implFIPS {
		c.std.xorKeyStreamAt(dst, src, k.hi, k.lo, offset)
		return
	}
	hi, lo := ctrmode.Add128(k.hi, k.lo, offset/BlockSize)
	skip := int(offset % BlockSize)
	if len(src) >= BlockSize && c.xorAll(dst, src, skip, hi, lo) {
		runtime.KeepAlive(c) // the schedule is in c's secmem slot, which c's cleanup frees
		return
	}
	c.xorSplit(dst, src, skip, hi, lo)
	runtime.KeepAlive(c)
}

// xorSplit is XORKeyStreamAt for kernels that work in whole blocks, for
// calls under a block, and where the low 64 bits of the counter wrap inside
// a call (the kernels only add 64-bit, so the run is cut there). A partial
// block at either end goes through a stack buffer.
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
	return ctrmode.NewStream("ctr", k, offset)
}

// NewCTR is a drop-in for cipher.NewCTR(aes.NewCipher(key), iv): the
// returned stream produces the same bytes.
func NewCTR(key, iv []byte) (cipher.Stream, error) {
	if len(iv) != BlockSize {
		return nil, IVSizeError(len(iv))
	}
	if cipherImpl() == implFIPS {
		return newFIPSCTR(key, iv)
	}
	c, err := NewCipher(key)
	if err != nil {
		return nil, err
	}
	return c.Keystream([16]byte(iv)).Stream(0), nil
}

// Backend names the kernel that NewCipher's ciphers run on this machine:
// "vaes-zmm", "vaes-ymm", "aesni", "arm64-aes" or "generic"; "fips140" in
// Go's FIPS 140-3 mode, where they run the standard library's module.
func Backend() string { return cipherImpl().String() }
