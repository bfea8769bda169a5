package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
)

// decryptByHand decrypts the store's file at rel the way dump's help says
// a person would: with the key and IV dump --show-keys prints, through
// crypto/cipher's AES-CTR (not tde's code).
func decryptByHand(t *testing.T, s testStore, rel string) []byte {
	t.Helper()
	var d dumpDoc
	if err := json.Unmarshal([]byte(mustTdectl(t, "dump", "--json", "--show-keys", "--store", s.dir, "--config", s.config)), &d); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(s.dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Files {
		if f.Path != rel {
			continue
		}
		if f.KeyID == "" {
			return raw
		}
		for _, k := range d.DataKeys {
			if k.ID != f.KeyID {
				continue
			}
			key, _ := hex.DecodeString(k.Key)
			iv, _ := hex.DecodeString(f.IV)
			blk, err := aes.NewCipher(key)
			if err != nil {
				t.Fatal(err)
			}
			cipher.NewCTR(blk, iv).XORKeyStream(raw, raw)
			return raw
		}
	}
	t.Fatalf("dump does not list %s with its key", rel)
	return nil
}

// storeFileNamed is the first file of the store whose name has the prefix
// or suffix, as dump lists it, and whether it has an entry.
func storeFileNamed(t *testing.T, s testStore, match func(string) bool, entry bool) string {
	t.Helper()
	var d dumpDoc
	if err := json.Unmarshal([]byte(mustTdectl(t, "dump", "--json", "--store", s.dir, "--config", s.config)), &d); err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Files {
		if match(f.Path) && f.Entry == entry && f.Present && f.Size > 0 {
			return f.Path
		}
	}
	t.Fatalf("no file to decrypt in %+v", d.Files)
	return ""
}

// TestDecrypt: decrypt writes exactly what AES-CTR with dump's key and IV
// gives, to stdout or to a new 0600 file it never overwrites, warns on
// stderr, copies a plaintext file from before encryption as it is, refuses
// files outside the store, directories, tde's own files and missing
// files with exit status 2, and changes nothing in the store.
func TestDecrypt(t *testing.T) {
	s := newMixedStore(t)
	flags := []string{"decrypt", "--store", s.dir, "--config", s.config}
	table := storeFileNamed(t, s, func(p string) bool { return strings.HasSuffix(p, ".sst") }, true)
	manifest := storeFileNamed(t, s, func(p string) bool { return strings.HasPrefix(p, "MANIFEST-") }, true)
	old := storeFileNamed(t, s, func(p string) bool { return strings.HasSuffix(p, ".sst") }, false)
	before := snapshot(t, s.dir)

	// To stdout: the table, relative to the store and absolute.
	for _, name := range []string{table, filepath.Join(s.dir, table)} {
		code, out, errs := tdectl(t, append(flags, name)...)
		if code != 0 {
			t.Fatalf("decrypt %s: exit %d: %s", name, code, errs)
		}
		raw, _ := os.ReadFile(filepath.Join(s.dir, table))
		if want := decryptByHand(t, s, table); out != string(want) || bytes.Equal(raw, want) {
			t.Fatalf("decrypt %s: %d bytes differ from AES-CTR under dump's key and IV (%d bytes)", name, len(out), len(want))
		}
		if !strings.Contains(errs, "WARNING: writing the plaintext of "+table+" to standard output") {
			t.Errorf("no warning on stderr: %q", errs)
		}
	}

	// To a new file, mode 0600, never over one.
	dst := filepath.Join(t.TempDir(), "MANIFEST.plain")
	out := mustTdectl(t, append(flags, manifest, "--out", dst)...)
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if want := decryptByHand(t, s, manifest); !bytes.Equal(got, want) {
		t.Errorf("--out: the MANIFEST's plaintext differs")
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
		t.Errorf("--out made a file of mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(out, "wrote the plaintext of "+manifest+" (aes256-ctr, data key ") || !strings.Contains(out, dst) {
		t.Errorf("--out said %q", out)
	}
	wantFail(t, exitUsage, []string{"--out", "file exists"}, append(flags, table, "--out", dst)...)
	if again, _ := os.ReadFile(dst); !bytes.Equal(again, got) {
		t.Error("--out over an existing file changed it")
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(filepath.Join(t.TempDir(), "target"), link)
	wantFail(t, exitUsage, []string{"--out", "file exists"}, append(flags, table, "--out", link)...)

	// A file from before encryption: no entry, copied as it is.
	raw, _ := os.ReadFile(filepath.Join(s.dir, old))
	if _, out, _ := tdectl(t, append(flags, old)...); out != string(raw) {
		t.Errorf("decrypt of plaintext %s: %d bytes, want its %d as they are", old, len(out), len(raw))
	}

	outside := filepath.Join(t.TempDir(), "000001.sst")
	os.WriteFile(outside, []byte("not in the store"), 0o600)
	for _, tc := range []struct {
		file string
		want []string
	}{
		{outside, []string{outside, "outside the store"}},
		{"../../" + filepath.Base(filepath.Dir(outside)) + "/000001.sst", []string{"outside the store"}},
		{".", []string{"is a directory"}},
		{s.dir, []string{"is a directory"}},
		{"TDE-KEYS", []string{"tde's own metadata"}},
		{"000999.sst", []string{"000999.sst", "no such file"}},
	} {
		wantFail(t, exitUsage, tc.want, append(flags, tc.file)...)
	}
	wantFail(t, exitUsage, []string{"takes one file"}, flags...)
	if d := snapshotDiff(before, snapshot(t, s.dir)); d != "" {
		t.Errorf("decrypt changed the store:\n%s", d)
	}
}

// TestDecryptStrictAndLocked: in a store tde created (strict), a file
// with no dictionary entry is refused, exit 1, naming it; a store Pebble
// has open is refused as by status and dump (exit 1, in use).
func TestDecryptStrictAndLocked(t *testing.T) {
	s := testStore{dir: filepath.Join(t.TempDir(), "db"), key: newKey(t)}
	s.config = writeConfig(t, "aes128-ctr", s.key)
	fill(t, s.dir, s.config, 0, 400)
	if err := os.WriteFile(filepath.Join(s.dir, "000777.sst"), []byte("dropped in by hand"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"decrypt", "--store", s.dir, "--config", s.config}
	wantFail(t, exitFailed, []string{"decrypting 000777.sst", "has no entry in the file dictionary", "every file of this store was written encrypted"}, append(flags, "000777.sst")...)

	table := storeFileNamed(t, s, func(p string) bool { return strings.HasSuffix(p, ".sst") }, true)
	efs, err := engine.Open(vfs.Default, s.dir, loadConfig(t, s.config))
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(s.dir, &pebble.Options{FS: efs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	wantFail(t, exitFailed, []string{"in use"}, append(flags, table)...)
	db.Close()
	efs.Close()
	mustTdectl(t, append(flags, table, "--out", filepath.Join(t.TempDir(), "t"))...)
}
