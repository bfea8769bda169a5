package ctr

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tde-go/tde/internal/ctrtest"
)

// subject runs the shared conformance suite on every kernel this CPU has,
// and on the FIPS-mode path (the module's CTR behind the same API), against
// crypto/cipher.NewCTR over crypto/aes.
func subject() *ctrtest.Subject { return subjectOf(testImpls()) }

// testImpls is every kernel this CPU has, then the FIPS-mode path.
func testImpls() []impl { return append(supportedImpls(), implFIPS) }

func subjectOf(impls []impl) *ctrtest.Subject {
	s := &ctrtest.Subject{KeySizes: []int{16, 24, 32}, Reference: stdKeystream}
	byName := map[string]impl{}
	for _, k := range impls {
		s.Kernels = append(s.Kernels, k.String())
		byName[k.String()] = k
	}
	s.New = func(kernel string, key []byte, iv [16]byte) ctrtest.Seekable {
		c, err := newCipher(key, byName[kernel])
		if err != nil {
			panic(err)
		}
		return c.Keystream(iv)
	}
	return s
}

func TestDifferential(t *testing.T)      { ctrtest.Differential(t, subject()) }
func TestCrossKernels(t *testing.T)      { ctrtest.CrossKernels(t, subject()) }
func TestWrap128(t *testing.T)           { ctrtest.Wrap128(t, subject()) }
func TestConcurrentUse(t *testing.T)     { ctrtest.Concurrent(t, subject()) }
func TestNoAllocs(t *testing.T)          { ctrtest.NoAllocs(t, subjectOf(supportedImpls())) } // FIPS: fips_test.go
func TestWritesStayInDst(t *testing.T)   { ctrtest.WritesStayInDst(t, subject()) }
func TestNoReadPastBuffers(t *testing.T) { ctrtest.NoReadPastBuffers(t, subject()) }

// stdKeystream returns n bytes of crypto/cipher's AES-CTR keystream.
func stdKeystream(t testing.TB, key []byte, iv [16]byte, n int) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, n)
	cipher.NewCTR(b, iv[:]).XORKeyStream(out, out)
	return out
}

func TestNewCTRMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, keyLen := range []int{16, 24, 32} {
		key, iv := make([]byte, keyLen), make([]byte, 16)
		ctrtest.Fill(r, key)
		ctrtest.Fill(r, iv)
		b, _ := aes.NewCipher(key)
		std := cipher.NewCTR(b, iv)
		ours, err := NewCTR(key, iv)
		if err != nil {
			t.Fatal(err)
		}
		// Uneven chunk sizes keep the stream position off block boundaries.
		for _, n := range []int{1, 15, 16, 17, 100, 4096, 3, 70000} {
			src := make([]byte, n)
			ctrtest.Fill(r, src)
			want, got := make([]byte, n), make([]byte, n)
			std.XORKeyStream(want, src)
			ours.XORKeyStream(got, src)
			if !bytes.Equal(got, want) {
				t.Fatalf("AES-%d: chunk of %d differs", keyLen*8, n)
			}
		}
	}
}

func TestStreamNoAllocs(t *testing.T) {
	s := newCTROrDie(t)
	buf := make([]byte, 100)
	if n := testing.AllocsPerRun(100, func() { s.XORKeyStream(buf, buf) }); n != 0 {
		t.Errorf("Stream.XORKeyStream allocates %.1f times per call", n)
	}
}

func newCTROrDie(t *testing.T) cipher.Stream {
	s, err := NewCTR(make([]byte, 16), make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBadSizes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 23, 31, 33, 64} {
		_, err := NewCipher(make([]byte, n))
		var kse KeySizeError
		if !errors.As(err, &kse) || int(kse) != n {
			t.Errorf("NewCipher with %d-byte key: err = %v, want KeySizeError(%d)", n, err, n)
		} else if !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("error %q does not name the length %d", err, n)
		}
	}
	for _, n := range []int{0, 8, 12, 15, 17, 32} {
		_, err := NewCTR(make([]byte, 16), make([]byte, n))
		var ise IVSizeError
		if !errors.As(err, &ise) || int(ise) != n {
			t.Errorf("NewCTR with %d-byte IV: err = %v, want IVSizeError(%d)", n, err, n)
		}
	}
	if _, err := NewCTR(make([]byte, 20), make([]byte, 16)); !errors.As(err, new(KeySizeError)) {
		t.Errorf("NewCTR with 20-byte key: err = %v, want KeySizeError", err)
	}
}

func TestPanics(t *testing.T) {
	c, _ := NewCipher(make([]byte, 16))
	ks := c.Keystream([16]byte{})
	buf := make([]byte, 64)
	for name, f := range map[string]func(){
		"short dst":       func() { ks.XORKeyStreamAt(buf[:10], buf[20:40], 0) },
		"inexact overlap": func() { ks.XORKeyStreamAt(buf[1:33], buf[0:32], 5) },
		"stream overlap":  func() { ks.Stream(0).XORKeyStream(buf[16:], buf[:48]) },
		"stream wraps":    func() { ks.Stream(^uint64(0)-2).XORKeyStream(buf[:4], buf[:4]) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// Exact overlap and a longer dst are allowed.
	ks.XORKeyStreamAt(buf[8:40], buf[8:40], 3)
	ks.XORKeyStreamAt(buf[:64], buf[:10], 3)
}

// TestNoKeyInFormatting formats a cipher, keystream and stream every way fmt
// can and looks for the key and its round keys in the output.
func TestNoKeyInFormatting(t *testing.T) {
	key := []byte("\x9c\x81\x4a\x11\xd3\x07\xb2\x5e\xaa\x01\x42\x77\xe9\x3c\x58\xc6\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01")
	c, _ := newCipher(key, defaultImpl) // tde's schedule, in FIPS mode too; the module's: fips_test.go
	ks := c.Keystream([16]byte{})
	var out strings.Builder
	for _, v := range []any{c, *c, ks, ks.Stream(0), struct{ C *Cipher }{c}, struct{ k Keystream }{ks}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	s := out.String()
	for r := 0; r <= c.schedule().rounds; r++ {
		word := c.schedule().rk[16*r : 16*r+4]
		decimal := strings.Trim(fmt.Sprint(word), "[]") // as it appears inside a longer array
		for _, enc := range []string{fmt.Sprintf("%x", word), fmt.Sprintf("%X", word), decimal, string(word)} {
			if strings.Contains(s, enc) {
				t.Fatalf("round key %d appears in formatted output (as %q):\n%s", r, enc, s)
			}
		}
	}
}

// TestDestroy checks that Destroy leaves no round key in memory.
func TestDestroy(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i + 1)
		}
		c, err := newCipher(key, defaultImpl)
		if err != nil {
			t.Fatal(err)
		}
		rk := &c.schedule().rk
		if *rk == (roundKeys{}) {
			t.Fatalf("AES-%d: schedule is zero before Destroy", 8*n)
		}
		c.Destroy()
		if *rk != (roundKeys{}) {
			t.Errorf("AES-%d: round keys remain after Destroy", 8*n)
		}
	}
}
