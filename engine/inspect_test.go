package engine

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/ctr"
	"github.com/tde-go/tde/keys"
	"github.com/tde-go/tde/sm4"
)

func inspectWrite(t *testing.T, fs vfs.FS, name, s string) {
	t.Helper()
	w, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFiles: Files lists every file with the key and IV its entry names,
// files from before encryption without one, files outside the store
// directory, and entries whose file is gone; and the key DataKeyHex gives
// with the IV Files gives decrypts the bytes on disk.
func TestFiles(t *testing.T) {
	for _, m := range []keys.Method{keys.MethodAES192CTR, keys.MethodSM4CTR} {
		base := vfs.NewMem()
		if err := base.MkdirAll("/s/sub", 0o755); err != nil {
			t.Fatal(err)
		}
		inspectWrite(t, base, "/s/old.sst", "written before tde")
		f := mustOpen(t, base, "/s", testConfig(t, m))
		if err := f.MkdirAll("/wal", 0o755); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"new.sst":           "encrypted " + canary,
			"sub/000001.log":    "in a subdirectory " + canary,
			"../wal/000002.log": "outside the store " + canary,
			"gone":              "removed behind the FS's back",
		}
		for rel, s := range want {
			inspectWrite(t, f, f.abs(rel), s)
		}
		// Outside the store, a file is keyed by its directory's identifier.
		ext := extName(t, base, "/wal") + "/000002.log"
		want[ext] = want["../wal/000002.log"]
		delete(want, "../wal/000002.log")
		if err := base.Remove("/s/gone"); err != nil {
			t.Fatal(err)
		}
		active := f.Status().ActiveKey.ID

		files, err := f.Files()
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, fi := range files {
			paths = append(paths, fi.Path)
		}
		if got := strings.Join(paths, " "); got != ext+" gone new.sst old.sst sub/000001.log" {
			t.Fatalf("%v: Files lists %s", m, got)
		}
		for _, fi := range files {
			switch fi.Path {
			case "old.sst":
				if fi.Entry || fi.Method != keys.MethodPlaintext || fi.KeyID != 0 || fi.IV != [16]byte{} || !fi.Present || fi.Size != 18 {
					t.Errorf("%v: file from before tde: %+v", m, fi)
				}
				continue
			case "gone":
				if !fi.Entry || fi.Present || fi.KeyID != active {
					t.Errorf("%v: entry of a missing file: %+v", m, fi)
				}
				continue
			}
			if !fi.Entry || fi.Method != m || fi.KeyID != active || !fi.Present || fi.Size != int64(len(want[fi.Path])) || fi.IV == [16]byte{} {
				t.Errorf("%v: %+v", m, fi)
				continue
			}
			// Decrypt the raw bytes with the dumped key and IV.
			kh, err := f.DataKeyHex(fi.KeyID)
			if err != nil {
				t.Fatal(err)
			}
			key, _ := hex.DecodeString(kh)
			if len(key) != m.KeySize() {
				t.Fatalf("%v: DataKeyHex gives %d bytes", m, len(key))
			}
			raw := rawFiles(t, base, base.PathDir(f.abs(fi.Path)))[f.abs(fi.Path)]
			if strings.Contains(string(raw), canary) {
				t.Fatalf("%v: %s in the clear", m, fi.Path)
			}
			out := make([]byte, len(raw))
			if m == keys.MethodSM4CTR {
				c, _ := sm4.NewCipher(key)
				c.Keystream(fi.IV).XORKeyStreamAt(out, raw, 0)
			} else {
				c, _ := ctr.NewCipher(key)
				c.Keystream(fi.IV).XORKeyStreamAt(out, raw, 0)
			}
			if string(out) != want[fi.Path] {
				t.Errorf("%v: %s decrypts with the dumped key and IV to %q", m, fi.Path, out)
			}
		}
		if p := f.RegistryPath(); p != "/s/"+keys.RegistryFile {
			t.Errorf("RegistryPath = %s", p)
		}
		if _, err := f.DataKeyHex(0); err == nil {
			t.Error("DataKeyHex(0) gave bytes for the plaintext key")
		}
		if _, err := f.DataKeyHex(active + 1); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Errorf("DataKeyHex of an unknown id = %v, want ErrKeyNotFound", err)
		}
		mustClose(t, f)
		if _, err := f.Files(); !errors.Is(err, ErrClosed) {
			t.Errorf("Files after Close = %v, want ErrClosed", err)
		}
		if _, err := f.DataKeyHex(active); !errors.Is(err, ErrClosed) {
			t.Errorf("DataKeyHex after Close = %v, want ErrClosed", err)
		}
	}
}
