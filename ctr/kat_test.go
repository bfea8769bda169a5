package ctr

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// NIST SP 800-38A, appendix F.5: the CTR examples. F.5.1/3/5 encrypt; F.5.2/4/6
// decrypt the same ciphertext back, which CTR does with the same keystream.
var sp80038a = []struct {
	name, key, ciphertext string
}{
	{"F.5.1/F.5.2 CTR-AES128", "2b7e151628aed2a6abf7158809cf4f3c",
		"874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff" +
			"5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"},
	{"F.5.3/F.5.4 CTR-AES192", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
		"1abc932417521ca24f2b0459fe7e6e0b090339ec0aa6faefd5ccc2c6f4ce8e94" +
			"1e36b26bd1ebc670d1bd1d665620abf74f78a7f6d29809585a97daec58c6b050"},
	{"F.5.5/F.5.6 CTR-AES256", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
		"601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5" +
			"2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"},
}

const (
	sp80038aCounter   = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
	sp80038aPlaintext = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" +
		"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)

func TestSP80038A(t *testing.T) {
	iv := [16]byte(unhex(t, sp80038aCounter))
	pt := unhex(t, sp80038aPlaintext)
	for _, k := range testImpls() {
		for _, v := range sp80038a {
			t.Run(k.String()+"/"+v.name, func(t *testing.T) {
				c, err := newCipher(unhex(t, v.key), k)
				if err != nil {
					t.Fatal(err)
				}
				ct := unhex(t, v.ciphertext)
				ks := c.Keystream(iv)

				got := make([]byte, len(pt))
				ks.XORKeyStreamAt(got, pt, 0)
				if !bytes.Equal(got, ct) {
					t.Errorf("encrypt:\n got %x\nwant %x", got, ct)
				}
				ks.XORKeyStreamAt(got, ct, 0)
				if !bytes.Equal(got, pt) {
					t.Errorf("decrypt:\n got %x\nwant %x", got, pt)
				}
				// Block by block through a Stream, and each block on its own
				// at its offset: the example's four steps.
				s := ks.Stream(0)
				for i := 0; i < len(pt); i += BlockSize {
					s.XORKeyStream(got[i:i+BlockSize], pt[i:i+BlockSize])
				}
				if !bytes.Equal(got, ct) {
					t.Errorf("stream:\n got %x\nwant %x", got, ct)
				}
				for i := len(pt) - BlockSize; i >= 0; i -= BlockSize {
					ks.XORKeyStreamAt(got[i:i+BlockSize], ct[i:i+BlockSize], uint64(i))
				}
				if !bytes.Equal(got, pt) {
					t.Errorf("per-block decrypt:\n got %x\nwant %x", got, pt)
				}
			})
		}
	}
}

// FIPS 197 appendix A: the last round key of each example expansion.
func TestKeyExpansionFIPS197(t *testing.T) {
	for _, v := range []struct{ key, last string }{
		{"2b7e151628aed2a6abf7158809cf4f3c", "d014f9a8c9ee2589e13f0cc8b6630ca6"},
		{"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "e98ba06f448c773c8ecc720401002202"},
		{"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "fe4890d1e6188d0b046df344706c631e"},
	} {
		var rk roundKeys
		key := unhex(t, v.key)
		rounds := expandKey(&rk, key)
		if want := len(key)/4 + 6; rounds != want {
			t.Errorf("%d-byte key: %d rounds, want %d", len(key), rounds, want)
		}
		if got := rk[16*rounds : 16*rounds+16]; !bytes.Equal(got, unhex(t, v.last)) {
			t.Errorf("%d-byte key: last round key %x, want %s", len(key), got, v.last)
		}
		if !bytes.Equal(rk[:len(key)], key) {
			t.Errorf("%d-byte key: round keys do not start with the key", len(key))
		}
	}
}

// FIPS 197 figure 7 gives the S-box; spot-check it and that it is a bijection.
func TestSbox(t *testing.T) {
	for in, want := range map[byte]byte{0x00: 0x63, 0x01: 0x7c, 0x53: 0xed, 0xff: 0x16, 0x10: 0xca, 0x9a: 0xb8} {
		if got := sboxCT(in); got != want {
			t.Errorf("S(%#02x) = %#02x, want %#02x", in, got, want)
		}
	}
	var seen [256]bool
	for i := range 256 {
		seen[sbox[i]] = true
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("S-box misses %#02x", i)
		}
	}
}

// subWord (the AES-instruction version where there is one) against its Go
// twin, for every byte value in every position.
func TestSubWord(t *testing.T) {
	for i := range 256 {
		for shift := 0; shift < 32; shift += 8 {
			w := uint32(i)<<shift | 0x01020304&^(0xff<<shift)
			if got, want := subWord(w), subWordGeneric(w); got != want {
				t.Fatalf("subWord(%#08x) = %#08x, want %#08x", w, got, want)
			}
		}
	}
}
