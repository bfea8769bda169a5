package keys

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

// FuzzParseHexKey checks the TiKV key-file parser against the rule it
// implements (64 hex digits and a newline, nothing else), and that an
// accepted file yields the key it spells.
func FuzzParseHexKey(f *testing.F) {
	f.Add([]byte(goodHex + "\n"))
	f.Add([]byte(goodHex))
	f.Add([]byte(goodHex + "\r\n"))
	f.Add([]byte(goodHex[:63] + "G\n"))
	f.Add([]byte(goodHex + "\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseHexKey(data)
		valid := len(data) == 65 && data[64] == '\n' && !slices.ContainsFunc(data[:64], func(c byte) bool { return !isHex(c) })
		if valid != (err == nil) {
			t.Fatalf("ParseHexKey(%q): valid %v, err %v", data, valid, err)
		}
		if err != nil {
			var kfe *KeyFileError
			if !errors.Is(err, ErrInvalidKeyFile) || !errors.As(err, &kfe) {
				t.Fatalf("ParseHexKey(%q): untyped error %v", data, err)
			}
			return
		}
		key, _ := hex.DecodeString(string(data[:64]))
		if fp := fingerprint(key); k.ID() != hex.EncodeToString(fp[:]) {
			t.Fatalf("ParseHexKey(%q) read another key", data)
		}
		w, err := k.Wrap(context.Background(), data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.Unwrap(context.Background(), w, nil); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseRawKey checks the CockroachDB key-file parser: 48, 56 or 64
// bytes, the first 32 the id.
func FuzzParseRawKey(f *testing.F) {
	for _, n := range []int{0, 32, 47, 48, 56, 64, 65} {
		f.Add(bytes.Repeat([]byte{byte(n)}, n))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseRawKey(data)
		valid := len(data) == 48 || len(data) == 56 || len(data) == 64
		if valid != (err == nil) {
			t.Fatalf("ParseRawKey(%d bytes): err %v", len(data), err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if k.ID() != hex.EncodeToString(data[:32]) {
			t.Fatalf("id %s", k.ID())
		}
		if fp := fingerprint(data[32:]); k.(*localKey).fp != fp {
			t.Fatal("read another key")
		}
	})
}

// registrySeeds returns registry files as this package writes them, under a
// plaintext and a file master key.
func registrySeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, m := range []MasterKey{Plaintext(), mustParseHex(t, goodHex+"\n")} {
		fsys := newMemFS()
		r, err := OpenRegistry(context.Background(), fsys, "/db", RegistryConfig{Master: m, Method: MethodAES128CTR, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		r.SetMethod(context.Background(), MethodAES256CTR)
		r.Close()
		seeds = append(seeds, []byte(fsys.snapshot()["/db/"+RegistryFile]))
	}
	return seeds
}

func mustParseHex(t testing.TB, s string) MasterKey {
	k, err := ParseHexKey([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzRegistryFile feeds arbitrary bytes to the registry decoder and to
// OpenRegistry: no panic; a file that decodes re-encodes to the same bytes;
// an open either succeeds or fails with a typed error and writes nothing.
func FuzzRegistryFile(f *testing.F) {
	for _, s := range registrySeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add([]byte(fileMagic))
	master := mustParseHex(f, goodHex+"\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		h, aad, payload, err := decodeFile(data)
		if err == nil {
			if !bytes.Equal(encodeFile(aad, payload), data) || !bytes.Equal(encodeHeader(h.kind, h.id), aad) {
				t.Fatal("decoded file does not re-encode to the same bytes")
			}
		}
		for _, m := range []MasterKey{Plaintext(), master} {
			fsys := newMemFS()
			fsys.put("/db/"+RegistryFile, data)
			before := fsys.snapshot()
			r, err := OpenRegistry(context.Background(), fsys, "/db",
				RegistryConfig{Master: m, Method: MethodAES128CTR, Logger: quietLogger(), RotationPeriod: 1 << 62})
			if err != nil {
				if !errors.Is(err, ErrCorruptRegistry) && !errors.Is(err, ErrWrongMasterKey) {
					t.Fatalf("untyped error: %v", err)
				}
				sameSnapshot(t, "failed open", before, fsys.snapshot())
				continue
			}
			r.Close()
		}
	})
}

// FuzzRegistryBody feeds arbitrary bytes to the decoder of the unwrapped
// registry (which a checksum keeps FuzzRegistryFile from reaching): no
// panic, and a body that decodes re-encodes to the same bytes.
func FuzzRegistryBody(f *testing.F) {
	for _, s := range registrySeeds(f)[:1] { // the plaintext one: its payload is the body
		_, _, body, err := decodeFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, data []byte) {
		active, keys, err := decodeBody(data)
		if err != nil {
			var ce corruptError
			if !errors.As(err, &ce) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if got := encodeBody(active, keys); !bytes.Equal(got, data) {
			t.Fatalf("body does not re-encode to the same bytes:\n%x\n%x", data, got)
		}
		for _, k := range keys {
			if k.ID() == 0 || len(k.Key()) != k.Method().KeySize() || k.Method() == MethodPlaintext {
				t.Fatalf("invalid key accepted: %v", k)
			}
		}
	})
}
