package ctr

import (
	"bytes"
	"crypto/fips140"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// TestFIPSBackend: in FIPS 140-3 mode NewCipher's ciphers and NewCTR's
// streams are the module's, and Backend says so. Outside it, the test runs
// this binary again under GODEBUG=fips140=on and =only, so that a plain go
// test checks it too: a change that quietly routes FIPS mode around the
// module fails here.
func TestFIPSBackend(t *testing.T) {
	if !fips140.Enabled() {
		if Backend() == fipsBackend {
			t.Fatalf("Backend() = %q outside FIPS 140-3 mode", Backend())
		}
		if puregoBuild {
			t.Skip("FIPS 140-3 mode is incompatible with the purego build tag (the module panics at init)")
		}
		for _, mode := range []string{"on", "only"} {
			t.Run("fips140="+mode, func(t *testing.T) {
				cmd := exec.Command(os.Args[0], "-test.run=^(TestFIPSBackend|TestSP80038A|TestDifferential|TestNoKeyInFormattingFIPS)$", "-test.count=1", "-test.short")
				cmd.Env = append(os.Environ(), "GODEBUG=fips140="+mode)
				out, err := cmd.CombinedOutput()
				if err != nil || !bytes.Contains(out, []byte("PASS")) {
					t.Fatalf("under GODEBUG=fips140=%s: %v\n%s", mode, err, out)
				}
			})
		}
		return
	}
	if got := Backend(); got != "fips140" {
		t.Errorf("Backend() = %q in FIPS 140-3 mode, want \"fips140\"", got)
	}
	c, err := NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if c.impl != implFIPS || c.std == nil || c.ks != nil {
		t.Errorf("NewCipher in FIPS 140-3 mode: impl %v, module block %v, tde schedule %v; want the module's block only", c.impl, c.std != nil, c.ks != nil)
	}
	if got := c.String(); got != "ctr.Cipher(AES-256, fips140)" {
		t.Errorf("String() = %q", got)
	}
	s, err := NewCTR(make([]byte, 16), make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if pkg := reflect.TypeOf(s).PkgPath(); pkg != "crypto/cipher" {
		t.Errorf("NewCTR in FIPS 140-3 mode returns a %T from %q, want crypto/cipher's stream", s, pkg)
	}
}

// TestFIPSAllocs pins what a FIPS-mode XORKeyStreamAt costs in allocations:
// two, the module's CTR state (crypto/cipher has no seekable CTR to keep)
// and the counter block it reads through an interface, whatever the length
// and offset; none for an empty call.
func TestFIPSAllocs(t *testing.T) {
	c, err := newCipher(make([]byte, 16), implFIPS)
	if err != nil {
		t.Fatal(err)
	}
	ks := c.Keystream([16]byte{})
	buf := make([]byte, 64<<10)
	for _, tc := range []struct{ off, n int }{{0, 0}, {0, 16}, {3, 64}, {4096, 4096}, {7, 64 << 10}} {
		want := 2.0
		if tc.n == 0 {
			want = 0
		}
		if a := testing.AllocsPerRun(100, func() { ks.XORKeyStreamAt(buf[:tc.n], buf[:tc.n], uint64(tc.off)) }); a != want {
			t.Errorf("offset %d, %d bytes: %.1f allocations per call, want %.0f", tc.off, tc.n, a, want)
		}
	}
}

// TestNoKeyInFormattingFIPS is TestNoKeyInFormatting for a FIPS-mode
// cipher, whose round keys the module holds: they are the FIPS 197 schedule,
// computed here with tde's to look for them.
func TestNoKeyInFormattingFIPS(t *testing.T) {
	key := []byte("\x9c\x81\x4a\x11\xd3\x07\xb2\x5e\xaa\x01\x42\x77\xe9\x3c\x58\xc6\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01")
	c, err := newCipher(key, implFIPS)
	if err != nil {
		t.Fatal(err)
	}
	ks := c.Keystream([16]byte{})
	var out strings.Builder
	for _, v := range []any{c, *c, ks, ks.Stream(0), struct{ C *Cipher }{c}, struct{ k Keystream }{ks}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	s := out.String()
	var rk roundKeys
	rounds := expandKey(&rk, key)
	for r := 0; r <= rounds; r++ {
		word := rk[16*r : 16*r+4]
		decimal := strings.Trim(fmt.Sprint(word), "[]")
		for _, enc := range []string{fmt.Sprintf("%x", word), fmt.Sprintf("%X", word), decimal, string(word)} {
			if strings.Contains(s, enc) {
				t.Fatalf("round key %d appears in formatted output (as %q):\n%s", r, enc, s)
			}
		}
	}
}

// TestDestroyFIPS: after Destroy a FIPS-mode cipher no longer holds the
// module's block for its key, and its keystreams are not the key's.
func TestDestroyFIPS(t *testing.T) {
	key := []byte("0123456789abcdef")
	c, err := newCipher(key, implFIPS)
	if err != nil {
		t.Fatal(err)
	}
	before := c.std.blk.Load()
	ks := c.Keystream([16]byte{1})
	a := make([]byte, 100)
	ks.XORKeyStreamAt(a, a, 5)
	c.Destroy()
	if c.std.blk.Load() == before {
		t.Fatal("Destroy kept the key's block")
	}
	b := make([]byte, 100)
	ks.XORKeyStreamAt(b, b, 5)
	if bytes.Equal(a, b) {
		t.Error("the keystream of a destroyed cipher is still the key's")
	}
	if !bytes.Equal(b, stdKeystream(t, make([]byte, 16), [16]byte{1}, 105)[5:]) {
		t.Error("a destroyed cipher's keystream is not the all-zero key's")
	}
}
