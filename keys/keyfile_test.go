package keys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/fips140"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const goodHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestParseHexKeyErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "is empty"},
		{"short no newline", goodHex[:63], "holds 63 hex characters and no newline"},
		{"short", goodHex[:62] + "\n", "holds 62 hex characters before the newline"},
		{"long", goodHex + "ab\n", "holds 66 or more hex characters"},
		{"non-hex", goodHex[:17] + "g" + goodHex[18:] + "\n", "byte 17 is a character that is not [0-9a-fA-F]"},
		{"space", goodHex[:5] + " " + goodHex[6:] + "\n", "byte 5 is a space"},
		{"non-ascii", goodHex[:40] + "\xc3" + goodHex[41:] + "\n", "byte 40 is a non-ASCII byte"},
		{"missing newline", goodHex, "has no newline after the 64 hex characters"},
		{"crlf", goodHex + "\r\n", `\r\n`},
		{"other terminator", goodHex + ";", "byte 64 is a character that is not"},
		{"trailing", goodHex + "\nxyz", "has 3 bytes of trailing data after the newline"},
		{"two keys", goodHex + "\n" + goodHex + "\n", "has 65 bytes of trailing data"},
		{"prefix", "0x" + goodHex[:62] + "\n", "byte 1 is a character that is not"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseHexKey([]byte(c.in))
			if !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("err = %v, want ErrInvalidKeyFile", err)
			}
			var kfe *KeyFileError
			if !errors.As(err, &kfe) {
				t.Fatalf("err = %T, want *KeyFileError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to say %q", err, c.want)
			}
		})
	}
}

// TestHexKeyIsAES256GCMKey pins the format: the file's 32 bytes are the
// AES-256-GCM key, used directly; either hex case reads the same key.
func TestHexKeyIsAES256GCMKey(t *testing.T) {
	lower, err := ParseHexKey([]byte(goodHex + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	upper, err := ParseHexKey([]byte(strings.ToUpper(goodHex) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if lower.ID() != upper.ID() || lower.Kind() != KindFile {
		t.Fatalf("IDs %q %q, kind %q", lower.ID(), upper.ID(), lower.Kind())
	}
	aad := []byte("header")
	w, err := upper.Wrap(context.Background(), []byte("registry body"), aad)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(goodHex)
	pt, err := independentOpen(key, w[8:20], w[20:], aad)
	if err != nil || string(pt) != "registry body" {
		t.Fatalf("independent AES-256-GCM open: %q, %v", pt, err)
	}
	// And the other way: what tde wrote before it let the module draw the
	// nonce (cipher.NewGCM, a nonce of its own) still unwraps.
	old := append(append([]byte{}, w[:20]...), independentSeal(key, w[8:20], []byte("written before"), aad)...)
	if got, err := lower.Unwrap(context.Background(), old, aad); err != nil || string(got) != "written before" {
		t.Fatalf("Unwrap of a registry sealed with an explicit nonce = %q, %v", got, err)
	}
	got, err := lower.Unwrap(context.Background(), w, aad)
	if err != nil || string(got) != "registry body" {
		t.Fatalf("Unwrap = %q, %v", got, err)
	}
	if _, err := lower.Unwrap(context.Background(), w, []byte("other header")); !errors.Is(err, ErrCorruptRegistry) {
		t.Errorf("Unwrap with altered aad: %v, want ErrCorruptRegistry", err)
	}
	other := fileKey(t)
	if _, err := other.Unwrap(context.Background(), w, aad); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("Unwrap under another key: %v, want ErrWrongMasterKey", err)
	}
	lower.Close()
	if _, err := lower.Wrap(context.Background(), nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Wrap after Close: %v", err)
	}
}

func TestRawKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		id := bytes.Repeat([]byte{0xab}, 32)
		key := randKey(t, n)
		k, err := ParseRawKey(append(append([]byte{}, id...), key...))
		if err != nil {
			t.Fatalf("%d-byte key: %v", n, err)
		}
		if k.Kind() != KindRaw || k.ID() != hex.EncodeToString(id) {
			t.Errorf("kind %q id %q", k.Kind(), k.ID())
		}
		if want := "AES-" + map[int]string{16: "128", 24: "192", 32: "256"}[n] + "-GCM"; !strings.Contains(k.String(), want) {
			t.Errorf("%d-byte key: %s, want %s", n, k, want)
		}
		w, err := k.Wrap(context.Background(), []byte("body"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// GCM with the key's own AES size
		if pt, err := independentOpen(key, w[8:20], w[20:], nil); err != nil || string(pt) != "body" {
			t.Errorf("%d-byte key: independent open: %q, %v", n, pt, err)
		}
	}
	for _, n := range []int{0, 1, 32, 47, 49, 55, 57, 63, 65, 96} {
		_, err := ParseRawKey(make([]byte, n))
		if !errors.Is(err, ErrInvalidKeyFile) {
			t.Errorf("%d bytes: %v, want ErrInvalidKeyFile", n, err)
			continue
		}
		if want := "is " + strconv.Itoa(n) + " bytes; want 48, 56 or 64"; !strings.Contains(err.Error(), want) {
			t.Errorf("%d bytes: %q, want it to say %q", n, err, want)
		}
	}
}

func TestKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o777, 0o610} {
		p, _ := hexKeyFile(t, dir, "k")
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadHexKeyFile(p)
		if !errors.Is(err, ErrLoosePermissions) {
			t.Errorf("mode %o: %v, want ErrLoosePermissions", mode, err)
			continue
		}
		var kfe *KeyFileError
		if !errors.As(err, &kfe) || kfe.Path != p || kfe.Mode.Perm() != mode {
			t.Errorf("mode %o: %#v", mode, kfe)
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), fmt.Sprintf("mode %04o", mode)) {
			t.Errorf("mode %o: %q does not name the file and mode", mode, err)
		}
		if _, err := LoadHexKeyFile(p, AllowLoosePermissions()); err != nil {
			t.Errorf("mode %o with AllowLoosePermissions: %v", mode, err)
		}
		os.Remove(p)
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		p, key := hexKeyFile(t, dir, "k")
		os.Chmod(p, mode)
		k, err := LoadHexKeyFile(p)
		if err != nil {
			t.Errorf("mode %o: %v", mode, err)
			continue
		}
		if want := fingerprint(key); k.ID() != hex.EncodeToString(want[:]) {
			t.Errorf("mode %o: key read differs from the file's", mode)
		}
		if !strings.Contains(k.String(), p) {
			t.Errorf("String %q does not name the file", k)
		}
		os.Remove(p)
	}
	raw := filepath.Join(dir, "raw")
	os.WriteFile(raw, randKey(t, 48), 0o644)
	if _, err := LoadRawKeyFile(raw); !errors.Is(err, ErrLoosePermissions) {
		t.Errorf("raw 0644: %v", err)
	}
	if _, err := LoadRawKeyFile(raw, AllowLoosePermissions()); err != nil {
		t.Errorf("raw 0644 allowed: %v", err)
	}
}

func TestKeyFileNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "master.key")
	os.WriteFile(p, []byte(goodHex[:10]+"\n"), 0o600)
	_, err := LoadHexKeyFile(p)
	if !errors.Is(err, ErrInvalidKeyFile) || !strings.Contains(err.Error(), p) {
		t.Errorf("short file: %v", err)
	}
	os.WriteFile(p, make([]byte, 47), 0o600)
	_, err = LoadRawKeyFile(p)
	if !errors.Is(err, ErrInvalidKeyFile) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "47 bytes") {
		t.Errorf("47-byte raw file: %v", err)
	}
	os.WriteFile(p, make([]byte, 1<<20), 0o600)
	if _, err = LoadRawKeyFile(p); !errors.Is(err, ErrInvalidKeyFile) || !strings.Contains(err.Error(), "1048576 bytes") {
		t.Errorf("1 MiB file: %v", err)
	}
	if _, err := LoadHexKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadHexKeyFile(dir); !errors.Is(err, ErrInvalidKeyFile) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

// independentOpen and independentSeal are AES-GCM with the nonce given
// apart, as any GCM implementation takes it: they check the wrapped format,
// nonce | ciphertext | tag after the fingerprint. Under fips140=only the
// module refuses a caller's nonce, which a reference for the format may use.
func independentOpen(key, nonce, sealed, aad []byte) (pt []byte, err error) {
	fips140.WithoutEnforcement(func() {
		blk, _ := aes.NewCipher(key)
		var g cipher.AEAD
		if g, err = cipher.NewGCM(blk); err == nil {
			pt, err = g.Open(nil, nonce, sealed, aad)
		}
	})
	return pt, err
}

func independentSeal(key, nonce, pt, aad []byte) (sealed []byte) {
	fips140.WithoutEnforcement(func() {
		blk, _ := aes.NewCipher(key)
		g, err := cipher.NewGCM(blk)
		if err != nil {
			panic(err)
		}
		sealed = g.Seal(nil, nonce, pt, aad)
	})
	return sealed
}

// TestWriteKeyFileRoundTrip: each format and size WriteKeyFile makes loads
// with its reader as the key it names, mode 0600, and wraps and unwraps.
func TestWriteKeyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind string
		bits int
		size int64
		load func(string, ...LoadOption) (MasterKey, error)
	}{
		{KindFile, 256, 65, LoadHexKeyFile},
		{KindRaw, 128, 48, LoadRawKeyFile},
		{KindRaw, 192, 56, LoadRawKeyFile},
		{KindRaw, 256, 64, LoadRawKeyFile},
	} {
		name := c.kind + "-" + strconv.Itoa(c.bits)
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".key")
			if err := WriteKeyFile(p, c.kind, c.bits); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 || fi.Size() != c.size {
				t.Errorf("%s: mode %v, %d bytes; want 0600, %d bytes", p, fi.Mode().Perm(), fi.Size(), c.size)
			}
			mk, err := c.load(p)
			if err != nil {
				t.Fatal(err)
			}
			defer mk.Close()
			if mk.Kind() != c.kind || !strings.Contains(mk.String(), "AES-"+strconv.Itoa(c.bits)+"-GCM") {
				t.Errorf("%s loads as %s", p, mk)
			}
			if c.kind == KindRaw {
				b, _ := os.ReadFile(p)
				if mk.ID() != hex.EncodeToString(b[:32]) {
					t.Errorf("raw key id %s, want the file's first 32 bytes", mk.ID())
				}
			}
			ctx := context.Background()
			w, err := mk.Wrap(ctx, []byte("data key"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := mk.Unwrap(ctx, w, nil); err != nil || string(got) != "data key" {
				t.Fatalf("Unwrap = %q, %v", got, err)
			}
		})
	}
	a, _ := os.ReadFile(filepath.Join(dir, "raw-256.key"))
	if err := WriteKeyFile(filepath.Join(dir, "again.key"), KindRaw, 256); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "again.key"))
	if bytes.Equal(a, b) {
		t.Fatal("two key files hold the same key")
	}
}

// TestWriteKeyFileNeverReplaces: a file or a symlink at the name (a key a
// store may be wrapped under, or a name planted to redirect the write) is
// fs.ErrExist and stays as it was; a bad kind or size writes nothing.
func TestWriteKeyFileNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.key")
	if err := os.WriteFile(existing, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.key")
	target := filepath.Join(dir, "target")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symlinks:", err)
	}
	for _, p := range []string{existing, link} {
		for _, kind := range []string{KindFile, KindRaw} {
			if err := WriteKeyFile(p, kind, 256); !errors.Is(err, fs.ErrExist) {
				t.Errorf("WriteKeyFile(%s, %s) = %v, want fs.ErrExist", p, kind, err)
			}
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Errorf("an existing key file became %q", b)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the write went through the symlink: %v", err)
	}
	for _, c := range []struct {
		kind string
		bits int
	}{{KindFile, 128}, {KindRaw, 512}, {KindKMS, 256}, {"", 256}} {
		p := filepath.Join(dir, "bad.key")
		if err := WriteKeyFile(p, c.kind, c.bits); err == nil {
			t.Errorf("WriteKeyFile(%q, %d) succeeded", c.kind, c.bits)
		}
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("WriteKeyFile(%q, %d) left a file", c.kind, c.bits)
		}
	}
}
