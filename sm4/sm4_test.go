package sm4

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	gmsm "github.com/emmansun/gmsm/sm4"

	"github.com/tde-go/tde/internal/ctrtest"
)

// subject runs the shared conformance suite on every kernel this CPU has,
// against gmsm's SM4 under crypto/cipher.NewCTR.
func subject() *ctrtest.Subject {
	s := &ctrtest.Subject{KeySizes: []int{16}, Reference: gmsmKeystream}
	byName := map[string]impl{}
	for _, k := range supportedImpls() {
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

// gmsmKeystream returns n bytes of gmsm's SM4-CTR keystream.
func gmsmKeystream(t testing.TB, key []byte, iv [16]byte, n int) []byte {
	t.Helper()
	b, err := gmsm.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, n)
	cipher.NewCTR(b, iv[:]).XORKeyStream(out, out)
	return out
}

func TestDifferential(t *testing.T)      { ctrtest.Differential(t, subject()) }
func TestCrossKernels(t *testing.T)      { ctrtest.CrossKernels(t, subject()) }
func TestWrap128(t *testing.T)           { ctrtest.Wrap128(t, subject()) }
func TestConcurrentUse(t *testing.T)     { ctrtest.Concurrent(t, subject()) }
func TestNoAllocs(t *testing.T)          { ctrtest.NoAllocs(t, subject()) }
func TestWritesStayInDst(t *testing.T)   { ctrtest.WritesStayInDst(t, subject()) }
func TestNoReadPastBuffers(t *testing.T) { ctrtest.NoReadPastBuffers(t, subject()) }

func TestNewCTRMatchesGmsm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	key, iv := make([]byte, 16), make([]byte, 16)
	ctrtest.Fill(r, key)
	ctrtest.Fill(r, iv)
	b, _ := gmsm.NewCipher(key)
	ref := cipher.NewCTR(b, iv)
	ours, err := NewCTR(key, iv)
	if err != nil {
		t.Fatal(err)
	}
	// Uneven chunk sizes keep the stream position off block boundaries.
	for _, n := range []int{1, 15, 16, 17, 100, 4096, 3, 70000} {
		src := make([]byte, n)
		ctrtest.Fill(r, src)
		want, got := make([]byte, n), make([]byte, n)
		ref.XORKeyStream(want, src)
		ours.XORKeyStream(got, src)
		if !bytes.Equal(got, want) {
			t.Fatalf("chunk of %d differs", n)
		}
	}
}

func TestBadSizes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 24, 32} {
		_, err := NewCipher(make([]byte, n))
		var kse KeySizeError
		if !errors.As(err, &kse) || int(kse) != n || !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("NewCipher with %d-byte key: err = %v, want a KeySizeError naming %d", n, err, n)
		}
	}
	for _, n := range []int{0, 8, 12, 15, 17, 32} {
		if _, err := NewCTR(make([]byte, 16), make([]byte, n)); !errors.As(err, new(IVSizeError)) {
			t.Errorf("NewCTR with %d-byte IV: err = %v, want IVSizeError", n, err)
		}
	}
}

func TestPanics(t *testing.T) {
	c, _ := NewCipher(make([]byte, 16))
	ks := c.Keystream([16]byte{})
	buf := make([]byte, 64)
	for name, f := range map[string]func(){
		"short dst":       func() { ks.XORKeyStreamAt(buf[:10], buf[20:40], 0) },
		"inexact overlap": func() { ks.XORKeyStreamAt(buf[1:33], buf[0:32], 5) },
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
}

// TestNoKeyInFormatting formats a cipher, keystream and stream every way fmt
// can and looks for the round keys in the output.
func TestNoKeyInFormatting(t *testing.T) {
	c, _ := NewCipher([]byte("\x9c\x81\x4a\x11\xd3\x07\xb2\x5e\xaa\x01\x42\x77\xe9\x3c\x58\xc6"))
	ks := c.Keystream([16]byte{})
	var out strings.Builder
	for _, v := range []any{c, *c, ks, ks.Stream(0), struct{ C *Cipher }{c}, struct{ k Keystream }{ks}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	s := out.String()
	for i, w := range c.roundKeys() {
		for _, enc := range []string{fmt.Sprintf("%x", w), fmt.Sprintf("%X", w), fmt.Sprint(w)} {
			if strings.Contains(s, enc) {
				t.Fatalf("round key %d appears in formatted output (as %q):\n%s", i, enc, s)
			}
		}
	}
}

// TestDestroy checks that Destroy leaves no round key in memory.
func TestDestroy(t *testing.T) {
	c, err := NewCipher([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	rk := c.roundKeys()
	if *rk == (roundKeys{}) {
		t.Fatal("round keys are zero before Destroy")
	}
	c.Destroy()
	if *rk != (roundKeys{}) {
		t.Error("round keys remain after Destroy")
	}
}
