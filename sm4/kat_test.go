package sm4

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encryptBlock is SM4 on one block through the CTR API: the keystream
// block at counter p is E(p).
func encryptBlock(c *Cipher, p [16]byte) [16]byte {
	var out [16]byte
	c.Keystream(p).XORKeyStreamAt(out[:], out[:], 0)
	return out
}

// GB/T 32907-2016 appendix A, examples 1 and 2 (also in
// draft-ribose-cfrg-sm4-10 A.1), and the draft's second ECB example.
func TestGBT32907(t *testing.T) {
	for _, k := range supportedImpls() {
		t.Run(k.String(), func(t *testing.T) {
			key := unhex(t, "0123456789abcdef fedcba9876543210")
			c, err := newCipher(key, k)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := encryptBlock(c, [16]byte(key)), unhex(t, "681edf34d206965e86b3e94f536e4246"); !bytes.Equal(got[:], want) {
				t.Errorf("example 1: got %x, want %x", got, want)
			}
			if testing.Short() && k != defaultImpl {
				// A million one-block calls take seconds per kernel under
				// qemu; the full run covers every kernel.
				return
			}
			b := [16]byte(key)
			for range 1_000_000 {
				b = encryptBlock(c, b)
			}
			if want := unhex(t, "595298c7c6fd271f0402f804c33d3f66"); !bytes.Equal(b[:], want) {
				t.Errorf("example 2 (1,000,000 encryptions): got %x, want %x", b, want)
			}

			c2, _ := newCipher(unhex(t, "fedcba9876543210 0123456789abcdef"), k)
			if got, want := encryptBlock(c2, [16]byte(unhex(t, "0001020304050607 08090a0b0c0d0e0f"))), unhex(t, "f766678f13f01adeac1b3ea955adb594"); !bytes.Equal(got[:], want) {
				t.Errorf("draft A.2.1.2: got %x, want %x", got, want)
			}
		})
	}
}

// draft-ribose-cfrg-sm4-10 appendix A.2.5: the SM4-CTR examples.
func TestDraftCTR(t *testing.T) {
	iv := [16]byte(unhex(t, "000102030405060708090a0b0c0d0e0f"))
	pt := unhex(t, "aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb cccccccccccccccc dddddddddddddddd"+
		"eeeeeeeeeeeeeeee ffffffffffffffff aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb")
	for _, k := range supportedImpls() {
		for _, v := range []struct{ name, key, ct string }{
			{"A.2.5.1", "0123456789abcdeffedcba9876543210",
				"ac3236cb970cc20791364c395a1342d1 a3cbc1878c6f30cd074cce385cdd70c7" +
					"f234bc0e24c11980fd1286310ce37b92 6e02fcd0faa0baf38b2933851d824514"},
			{"A.2.5.2", "fedcba98765432100123456789abcdef",
				"5dcccd25b95ab07417a08512ee160e2f 8f661521cbbab44cc87138445bc29e5c" +
					"0ae0297205d62704173b21239b887f6c 8cb5b800917a2488284bde9e16ea2906"},
		} {
			c, _ := newCipher(unhex(t, v.key), k)
			ct := unhex(t, v.ct)
			got := make([]byte, len(pt))
			c.Keystream(iv).XORKeyStreamAt(got, pt, 0)
			if !bytes.Equal(got, ct) {
				t.Errorf("%v %s encrypt:\n got %x\nwant %x", k, v.name, got, ct)
			}
			c.Keystream(iv).XORKeyStreamAt(got, ct, 0)
			if !bytes.Equal(got, pt) {
				t.Errorf("%v %s decrypt: got %x", k, v.name, got)
			}
		}
	}
}

// The S-box against the first row of the table in GB/T 32907 section 6.2,
// and a bijection.
func TestSbox(t *testing.T) {
	firstRow := unhex(t, "d690e9fecce13db716b614c228fb2c05")
	for i, want := range firstRow {
		if got := sboxCT(byte(i)); got != want {
			t.Errorf("S(%#02x) = %#02x, want %#02x", i, got, want)
		}
	}
	var seen [256]bool
	for i := range 256 {
		seen[sboxCT(byte(i))] = true
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("S-box misses %#02x", i)
		}
	}
}

// CK from its rule against the first and last values the standard lists.
func TestCK(t *testing.T) {
	for i, want := range map[int]uint32{0: 0x00070e15, 1: 0x1c232a31, 31: 0x646b7279} {
		if got := ck(i); got != want {
			t.Errorf("CK%d = %#08x, want %#08x", i, got, want)
		}
	}
}
