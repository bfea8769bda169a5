package ctr

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/fips140"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tde-go/tde/internal/ctrmode"
)

// FIPS 140-3 mode. When the process runs in Go's FIPS mode (GODEBUG
// fips140=on or only, or a GOFIPS140 build), tde's kernels, and its key
// schedule, never see a key: NewCipher hands the key to crypto/aes once and
// keeps the block, and every XORKeyStreamAt is a crypto/cipher.NewCTR
// stream over that block, which is the module's AES-CTR (SP 800-38A), an
// approved service. The output is the same bytes as every other kernel's.
//
// What it costs, beyond the module's own speed: crypto/cipher offers no
// seekable CTR, so each call builds a stream at the call's counter block.
// That is two heap allocations per call: about 512 bytes of CTR state (the
// module copies the expanded key into it, and the cipher.Stream holding it
// escapes) and 32 bytes for the counter block and, for an offset that is not
// a multiple of 16, the keystream bytes before it, which cost one extra
// block encrypted. Skipped whole blocks are never
// encrypted: the counter is computed, not advanced.

// fipsBackend is what Backend says in FIPS 140-3 mode.
const fipsBackend = "fips140"

// fipsMode is fixed for the life of the process, as crypto/fips140 says.
var fipsMode = fips140.Enabled()

// cipherImpl is the kernel NewCipher and NewCTR use: the module in FIPS
// mode, else the fastest kernel this CPU has.
func cipherImpl() impl {
	if fipsMode {
		return implFIPS
	}
	return defaultImpl
}

// fipsBlock is a FIPS-mode Cipher's key: the standard library's AES block.
// It sits behind an atomic pointer so that Destroy can drop it while a
// stale keystream still holds the Cipher; fmt prints that pointer as an
// address, never the block.
type fipsBlock struct {
	bits int
	blk  atomic.Pointer[stdBlock]
}

type stdBlock struct{ b cipher.Block }

// zeroKeyBlock replaces a destroyed key: its keystream is not the key's.
var zeroKeyBlock = sync.OnceValue(func() *stdBlock {
	b, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		panic(err) // unreachable: 16 bytes is an AES key
	}
	return &stdBlock{b: b}
})

func newFIPSCipher(key []byte) (*Cipher, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err // unreachable: newCipher checked the length
	}
	f := &fipsBlock{bits: 8 * len(key)}
	f.blk.Store(&stdBlock{b: b})
	return &Cipher{impl: implFIPS, std: f}, nil
}

func (f *fipsBlock) String() string {
	return "ctr.Cipher(AES-" + strconv.Itoa(f.bits) + ", " + fipsBackend + ")"
}

func (f *fipsBlock) destroy() { f.blk.Store(zeroKeyBlock()) }

// xorKeyStreamAt is XORKeyStreamAt on the module: the caller has checked
// dst and src, and src is not empty.
func (f *fipsBlock) xorKeyStreamAt(dst, src []byte, hi, lo, offset uint64) {
	hi, lo = ctrmode.Add128(hi, lo, offset/BlockSize)
	// The counter block and the bytes discarded before offset share one
	// allocation: both escape through crypto/cipher's interfaces.
	sc := new(fipsScratch)
	binary.BigEndian.PutUint64(sc.iv[:8], hi)
	binary.BigEndian.PutUint64(sc.iv[8:], lo)
	s := cipher.NewCTR(f.blk.Load().b, sc.iv[:])
	if skip := offset % BlockSize; skip != 0 {
		s.XORKeyStream(sc.ks[:skip], sc.ks[:skip])
		clear(sc.ks[:]) // keystream
	}
	s.XORKeyStream(dst, src)
}

type fipsScratch struct{ iv, ks [BlockSize]byte }

// newFIPSCTR is NewCTR in FIPS mode: the module's own stream, which keeps
// its position and so needs no allocation per call.
func newFIPSCTR(key, iv []byte) (cipher.Stream, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, KeySizeError(len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewCTR(b, iv), nil
}
