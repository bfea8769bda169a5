package keys

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistryRoundTrip: a registry reopens with the same keys, bytes,
// methods, times and active key, under every kind of local master key and
// every method.
func TestRegistryRoundTrip(t *testing.T) {
	masters := map[string]func(t *testing.T) MasterKey{
		"file": func(t *testing.T) MasterKey { return fileKey(t) },
		"raw128": func(t *testing.T) MasterKey {
			k, err := ParseRawKey(randKey(t, 48))
			if err != nil {
				t.Fatal(err)
			}
			return k
		},
		"raw256": func(t *testing.T) MasterKey {
			k, err := ParseRawKey(randKey(t, 64))
			if err != nil {
				t.Fatal(err)
			}
			return k
		},
		"plaintext": func(*testing.T) MasterKey { return Plaintext() },
	}
	for name, mk := range masters {
		for _, m := range Methods() {
			t.Run(name+"/"+m.String(), func(t *testing.T) {
				dir, c, master := t.TempDir(), newClock(), mk(t)
				r := mustOpen(t, OSFS{}, dir, cfgWith(master, m, c))
				active := r.Active()
				if active.Method() != m || len(active.Key()) != m.KeySize() {
					t.Fatalf("active %v: %d bytes", active, len(active.Key()))
				}
				if m == MethodPlaintext && (active.ID() != 0 || active.Key() != nil) {
					t.Fatalf("plaintext active key %v", active)
				}
				if m != MethodPlaintext && (active.ID() == 0 || !active.Created().Equal(c.Now())) {
					t.Fatalf("active %v, created %v, want %v", active, active.Created(), c.Now())
				}
				c.Advance(DefaultRotationPeriod) // a second key, so there are two
				if _, err := r.MaybeRotate(context.Background()); err != nil {
					t.Fatal(err)
				}
				want, wantInfo, wantActive := keyBytes(r), r.Keys(), r.Active().ID()
				r.Close()

				r2 := mustOpen(t, OSFS{}, dir, cfgWith(master, m, c))
				if got := keyBytes(r2); !maps.Equal(got, want) {
					t.Errorf("keys after reopen differ")
				}
				gotInfo := r2.Keys()
				if len(gotInfo) != len(wantInfo) {
					t.Fatalf("Keys() = %v, want %v", gotInfo, wantInfo)
				}
				for i := range gotInfo {
					g, w := gotInfo[i], wantInfo[i]
					if g.ID != w.ID || g.Method != w.Method || !g.Created.Equal(w.Created) || g.Active != w.Active {
						t.Errorf("Keys()[%d] = %v, want %v", i, g, w)
					}
				}
				if r2.Active().ID() != wantActive {
					t.Errorf("active %v, want %s", r2.Active(), FormatID(wantActive))
				}
			})
		}
	}
}

func TestRegistryFile(t *testing.T) {
	dir := t.TempDir()
	r := mustOpen(t, OSFS{}, dir, cfgWith(fileKey(t), MethodAES256CTR, newClock()))
	p := filepath.Join(dir, RegistryFile)
	if r.Path() != p {
		t.Errorf("Path() = %q, want %q", r.Path(), p)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("registry mode %v, want 0600", st.Mode())
	}
	b, _ := os.ReadFile(p)
	if !bytes.HasPrefix(b, []byte("TDEKEYS\x00\x00\x01\x04file")) {
		t.Errorf("registry starts %q, want the magic, version 1 and the kind", b[:20])
	}
	if bytes.Contains(b, r.Active().Key()) {
		t.Error("the data key is in the registry file in the clear")
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	if _, err := r.Key(12345); !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), "0000000000003039") {
		t.Errorf("Key(unknown) = %v", err)
	}
	if k, err := r.Key(0); err != nil || k.Method() != MethodPlaintext {
		t.Errorf("Key(0) = %v, %v", k, err)
	}
}

// TestPlaintextMaster: the registry is stored unwrapped, and a warning says
// so (without the key).
func TestPlaintextMaster(t *testing.T) {
	dir := t.TempDir()
	var logs logBuffer
	cfg := RegistryConfig{Master: Plaintext(), Method: MethodAES128CTR, Logger: logs.logger()}
	r := mustOpen(t, OSFS{}, dir, cfg)
	b, _ := os.ReadFile(filepath.Join(dir, RegistryFile))
	if !bytes.Contains(b, r.Active().Key()) {
		t.Error("plaintext registry does not hold the data key unwrapped")
	}
	if !strings.Contains(logs.String(), "MASTER KEY IS PLAINTEXT") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), string(r.Active().Key())) {
		t.Error("the warning holds the key")
	}
	r.Close()
	before := logs.String()
	mustOpen(t, OSFS{}, dir, cfg)
	if !strings.Contains(strings.TrimPrefix(logs.String(), before), "MASTER KEY IS PLAINTEXT") {
		t.Error("no warning on reopen")
	}
}

// TestTamperedRegistry: with the checksum recomputed, so only the
// authentication can catch it, a changed header or payload is corruption,
// not a wrong key.
func TestTamperedRegistry(t *testing.T) {
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	r := mustOpen(t, fsys, "/db", cfgWith(master, MethodAES256CTR, c))
	r.Close()
	orig := fsys.snapshot()["/db/"+RegistryFile]
	h, aad, _, err := decodeFile([]byte(orig))
	if err != nil {
		t.Fatal(err)
	}
	idAt := len(aad) - len(h.id) // a byte of the master key id in the header
	for _, at := range []int{idAt, len(aad) + 4 + 8 + 3, len(orig) - 4 - 1} {
		b := []byte(orig)
		b[at] ^= 0x40
		binary.BigEndian.PutUint32(b[len(b)-4:], crc32c(b[:len(b)-4]))
		fsys.put("/db/"+RegistryFile, b)
		_, err := OpenRegistry(context.Background(), fsys, "/db", cfgWith(master, MethodAES256CTR, c))
		if !errors.Is(err, ErrCorruptRegistry) || errors.Is(err, ErrWrongMasterKey) {
			t.Errorf("byte %d altered: %v, want ErrCorruptRegistry", at, err)
		}
	}
}

func TestRegistryClosed(t *testing.T) {
	r := mustOpen(t, newMemFS(), "/db", cfgWith(fileKey(t), MethodAES128CTR, newClock()))
	k := r.Active()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if k.Key() != nil {
		t.Error("Close did not destroy the data keys")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"RotateDataKey":   r.RotateDataKey(ctx),
		"SetMethod":       r.SetMethod(ctx, MethodAES256CTR),
		"RotateMasterKey": r.RotateMasterKey(ctx, fileKey(t)),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, err := r.Key(k.ID()); !errors.Is(err, ErrClosed) {
		t.Errorf("Key after Close: %v", err)
	}
	if _, err := r.Retain(ctx, func(uint64) bool { return false }); !errors.Is(err, ErrClosed) {
		t.Errorf("Retain after Close: %v", err)
	}
}

func TestRegistryConfigErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenRegistry(ctx, newMemFS(), "/db", RegistryConfig{Method: MethodAES128CTR}); err == nil || !strings.Contains(err.Error(), "Master is nil") {
		t.Errorf("nil master: %v", err)
	}
	for _, m := range []Method{0, 6} {
		_, err := OpenRegistry(ctx, newMemFS(), "/db", RegistryConfig{Master: Plaintext(), Method: m})
		if !errors.Is(err, ErrUnknownMethod) || !strings.Contains(err.Error(), "RegistryConfig.Method") {
			t.Errorf("method %d: %v", m, err)
		}
	}
	if _, err := OpenRegistry(ctx, newMemFS(), "/db", RegistryConfig{Master: Plaintext(), Method: MethodSM4CTR, RotationPeriod: -1}); err == nil {
		t.Error("negative rotation period accepted")
	}
}

// TestBadBodies: a body that authenticates but is not valid (only possible
// from a bug or under a plaintext master key) is refused as corruption.
func TestBadBodies(t *testing.T) {
	key := func(id uint64, m Method, n int) []byte {
		b := binary.BigEndian.AppendUint64(nil, id)
		b = append(b, byte(m))
		b = binary.BigEndian.AppendUint64(b, uint64(epoch.UnixNano()))
		b = append(b, byte(n))
		return append(b, make([]byte, n)...)
	}
	body := func(active uint64, count uint32, entries ...[]byte) []byte {
		b := binary.BigEndian.AppendUint64(nil, active)
		b = binary.BigEndian.AppendUint32(b, count)
		for _, e := range entries {
			b = append(b, e...)
		}
		return b
	}
	good := key(7, MethodAES128CTR, 16)
	cases := map[string]struct {
		body []byte
		says string
	}{
		"wrong key length":   {body(7, 1, key(7, MethodAES128CTR, 32)), "is 32 bytes for aes128-ctr"},
		"sm4 key of 24":      {body(7, 1, key(7, MethodSM4CTR, 24)), "is 24 bytes for sm4-ctr"},
		"plaintext key":      {body(0, 1, key(7, MethodPlaintext, 0)), "method plaintext"},
		"unknown method":     {body(7, 1, key(7, 9, 16)), "method Method(9)"},
		"id 0":               {body(0, 1, key(0, MethodAES128CTR, 16)), "id 0"},
		"duplicate id":       {body(7, 2, good, good), "appears twice"},
		"active missing":     {body(8, 1, good), "active key 0000000000000008 is not in the registry"},
		"trailing":           {append(body(7, 1, good), 0), "trailing"},
		"truncated":          {body(7, 1, good)[:30], "truncated"},
		"count beyond bytes": {body(7, 1000, good), "claims 1000 keys"},
		"short header":       {make([]byte, 11), "truncated"},
	}
	if _, _, err := decodeBody(body(7, 1, good)); err != nil {
		t.Fatalf("the good body: %v", err)
	}
	for name, c := range cases {
		fsys := newMemFS()
		fsys.put("/db/"+RegistryFile, encodeFile(encodeHeader(KindPlaintext, ""), c.body))
		_, err := OpenRegistry(context.Background(), fsys, "/db", cfgWith(Plaintext(), MethodAES128CTR, newClock()))
		if !errors.Is(err, ErrCorruptRegistry) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrCorruptRegistry saying %q", name, err, c.says)
		}
	}
}
