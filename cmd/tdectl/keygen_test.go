package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tde-go/tde/keys"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	hexKey := filepath.Join(dir, "master.key")
	out := mustTdectl(t, "keygen", hexKey)
	if !strings.Contains(out, hexKey) || !strings.Contains(out, "AES-256-GCM") || !strings.Contains(out, `type = "file"`) {
		t.Errorf("keygen output:\n%s", out)
	}
	b, err := os.ReadFile(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 65 || b[64] != '\n' {
		t.Fatalf("hex key file is %d bytes %q, want 64 hex characters and a newline", len(b), b)
	}
	if _, err := hex.DecodeString(string(b[:64])); err != nil {
		t.Fatalf("hex key file: %v", err)
	}
	checkMode(t, hexKey)
	if mk, err := keys.LoadHexKeyFile(hexKey); err != nil {
		t.Fatal(err)
	} else {
		mk.Close()
	}
	mustTdectl(t, "keygen", filepath.Join(dir, "other.key"))
	other, _ := os.ReadFile(filepath.Join(dir, "other.key"))
	if bytes.Equal(b, other) {
		t.Fatal("two keygens made the same key")
	}

	for _, size := range []int{128, 192, 256} {
		p := filepath.Join(dir, "raw-"+strconv.Itoa(size)+".key")
		out := mustTdectl(t, "keygen", "--format", "raw", "--size", strconv.Itoa(size), p)
		if !strings.Contains(out, "aes"+strconv.Itoa(size)+"-ctr") || !strings.Contains(out, "--enterprise-encryption") {
			t.Errorf("keygen raw %d output:\n%s", size, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 32+size/8 {
			t.Errorf("raw %d-bit key file is %d bytes, want %d", size, len(b), 32+size/8)
		}
		checkMode(t, p)
		mk, err := keys.LoadRawKeyFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(mk.String(), "AES-"+strconv.Itoa(size)+"-GCM") {
			t.Errorf("raw %d-bit key loads as %s", size, mk)
		}
		mk.Close()
	}
}

func checkMode(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
	}
}

// TestKeygenBadInput: each flag's bad values, an existing file (left
// untouched), a missing directory and wrong argument counts are usage
// errors that name the flag or file.
func TestKeygenBadInput(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.key")
	if err := os.WriteFile(existing, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"keygen", existing}, []string{existing, "already exists", "never overwrites"}},
		{[]string{"keygen", "--format", "raw", existing}, []string{existing, "already exists"}},
		{[]string{"keygen", "--format", "pem", filepath.Join(dir, "a")}, []string{"--format", "pem", "hex", "raw"}},
		{[]string{"keygen", "--size", "512", filepath.Join(dir, "a")}, []string{"--size 512", "128, 192 or 256"}},
		{[]string{"keygen", "--size", "128", filepath.Join(dir, "a")}, []string{"--size 128", "256-bit keys only", "--format raw"}},
		{[]string{"keygen", "--format", "hex", "--size", "192", filepath.Join(dir, "a")}, []string{"--size 192"}},
		{[]string{"keygen", "--size", "big", filepath.Join(dir, "a")}, []string{"--size", "big"}},
		{[]string{"keygen", filepath.Join(dir, "missing", "a.key")}, []string{filepath.Join(dir, "missing"), "does not exist"}},
		{[]string{"keygen", filepath.Join(existing, "a.key")}, []string{existing, "not a directory"}},
		{[]string{"keygen"}, []string{"one argument"}},
		{[]string{"keygen", "a", "b"}, []string{"one argument", "got 2"}},
		{[]string{"keygen", "--bogus", "a"}, []string{"--bogus"}},
	} {
		wantFail(t, exitUsage, c.want, c.args...)
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Fatalf("keygen changed an existing file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
		t.Fatal("a failed keygen left a file")
	}
}
