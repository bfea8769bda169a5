package keys

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputs: every bad input gets its typed error, naming the file or
// setting, and leaves every byte in the store and key directories as it
// was.
func TestBadInputs(t *testing.T) {
	ctx := context.Background()
	type env struct {
		store, keydir string
		c             *clock
	}
	// registryUnder creates a registry in e.store under master.
	registryUnder := func(t *testing.T, e env, master MasterKey) {
		r, err := OpenRegistry(ctx, OSFS{}, e.store, cfgWith(master, MethodAES256CTR, e.c))
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	regPath := func(e env) string { return filepath.Join(e.store, RegistryFile) }
	// rewrite alters the registry file with f.
	rewrite := func(t *testing.T, e env, f func([]byte) []byte) {
		b, err := os.ReadFile(regPath(e))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(regPath(e), f(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKey := func(t *testing.T, e env, content string, mode os.FileMode) string {
		p := filepath.Join(e.keydir, "master.key")
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	openHex := func(p string) error {
		_, err := LoadHexKeyFile(p)
		return err
	}

	cases := []struct {
		name  string
		setup func(t *testing.T, e env) func() error // returns the action
		want  []error                                // each must match
		not   []error                                // none may match
		says  []string                               // the message holds each ("$reg" is the registry path)
	}{
		{
			name: "hex key: wrong length",
			setup: func(t *testing.T, e env) func() error {
				p := writeKey(t, e, goodHex[:60]+"\n", 0o600)
				return func() error { return openHex(p) }
			},
			want: []error{ErrInvalidKeyFile}, says: []string{"master.key", "60 hex characters"},
		},
		{
			name: "hex key: non-hex",
			setup: func(t *testing.T, e env) func() error {
				p := writeKey(t, e, goodHex[:33]+"z"+goodHex[34:]+"\n", 0o600)
				return func() error { return openHex(p) }
			},
			want: []error{ErrInvalidKeyFile}, says: []string{"master.key", "byte 33"},
		},
		{
			name: "hex key: missing newline",
			setup: func(t *testing.T, e env) func() error {
				p := writeKey(t, e, goodHex, 0o600)
				return func() error { return openHex(p) }
			},
			want: []error{ErrInvalidKeyFile}, says: []string{"master.key", "no newline"},
		},
		{
			name: "hex key: trailing data",
			setup: func(t *testing.T, e env) func() error {
				p := writeKey(t, e, goodHex+"\n\n", 0o600)
				return func() error { return openHex(p) }
			},
			want: []error{ErrInvalidKeyFile}, says: []string{"master.key", "trailing"},
		},
		{
			name: "raw key: wrong length",
			setup: func(t *testing.T, e env) func() error {
				p := writeKey(t, e, strings.Repeat("k", 40), 0o600)
				return func() error { _, err := LoadRawKeyFile(p); return err }
			},
			want: []error{ErrInvalidKeyFile}, says: []string{"master.key", "40 bytes"},
		},
		{
			name: "loose mode",
			setup: func(t *testing.T, e env) func() error {
				p := writeKey(t, e, goodHex+"\n", 0o640)
				return func() error { return openHex(p) }
			},
			want: []error{ErrLoosePermissions}, not: []error{ErrInvalidKeyFile}, says: []string{"master.key", "mode 0640"},
		},
		{
			name: "unknown method",
			setup: func(t *testing.T, e env) func() error {
				registryUnder(t, e, Plaintext())
				return func() error {
					_, err := OpenRegistry(ctx, OSFS{}, e.store, RegistryConfig{Master: Plaintext(), Method: 9, Logger: quietLogger()})
					return err
				}
			},
			want: []error{ErrUnknownMethod}, says: []string{"Method(9)", "RegistryConfig.Method"},
		},
		{
			name: "unknown method name",
			setup: func(t *testing.T, e env) func() error {
				return func() error { _, err := ParseMethod("aes-256-gcm"); return err }
			},
			want: []error{ErrUnknownMethod}, says: []string{`"aes-256-gcm"`},
		},
		{
			name: "wrong master key",
			setup: func(t *testing.T, e env) func() error {
				registryUnder(t, e, fileKey(t))
				return func() error {
					_, err := OpenRegistry(ctx, OSFS{}, e.store, cfgWith(fileKey(t), MethodAES256CTR, e.c))
					return err
				}
			},
			want: []error{ErrWrongMasterKey}, not: []error{ErrCorruptRegistry}, says: []string{"$reg", "wrapped under master key file"},
		},
		{
			name: "wrong master key and wrong previous key",
			setup: func(t *testing.T, e env) func() error {
				registryUnder(t, e, fileKey(t))
				return func() error {
					cfg := cfgWith(fileKey(t), MethodAES256CTR, e.c)
					cfg.Previous = fileKey(t)
					_, err := OpenRegistry(ctx, OSFS{}, e.store, cfg)
					return err
				}
			},
			want: []error{ErrWrongMasterKey}, not: []error{ErrMissingPreviousKey, ErrCorruptRegistry}, says: []string{"$reg", " nor "},
		},
		{
			name: "missing previous key",
			setup: func(t *testing.T, e env) func() error {
				old := fileKey(t)
				registryUnder(t, e, old)
				return func() error {
					_, err := OpenRegistry(ctx, OSFS{}, e.store, cfgWith(fileKey(t), MethodAES256CTR, e.c))
					return err
				}
			},
			want: []error{ErrMissingPreviousKey}, not: []error{ErrCorruptRegistry}, says: []string{"$reg", "give the previous one"},
		},
		{
			name: "plaintext master for an encrypted registry",
			setup: func(t *testing.T, e env) func() error {
				registryUnder(t, e, fileKey(t))
				return func() error {
					_, err := OpenRegistry(ctx, OSFS{}, e.store, cfgWith(Plaintext(), MethodAES256CTR, e.c))
					return err
				}
			},
			want: []error{ErrWrongMasterKey}, says: []string{"$reg"},
		},
		{
			name: "raw key of another size for a file-key registry",
			setup: func(t *testing.T, e env) func() error {
				registryUnder(t, e, fileKey(t))
				return func() error {
					k, _ := ParseRawKey(randKey(t, 64))
					_, err := OpenRegistry(ctx, OSFS{}, e.store, cfgWith(k, MethodAES256CTR, e.c))
					return err
				}
			},
			want: []error{ErrWrongMasterKey}, says: []string{"$reg"},
		},
	}
	// Corrupt registries: each alteration of a good file.
	corruptions := []struct {
		name string
		f    func([]byte) []byte
		says string
	}{
		{"truncated to 0", func(b []byte) []byte { return b[:0] }, "truncated to 0 bytes"},
		{"truncated in the magic", func(b []byte) []byte { return b[:5] }, "truncated to 5 bytes"},
		{"truncated in the header", func(b []byte) []byte { return b[:12] }, "truncated"},
		{"truncated in the payload", func(b []byte) []byte { return b[:len(b)/2] }, "truncated"},
		{"truncated checksum", func(b []byte) []byte { return b[:len(b)-1] }, "truncated"},
		{"trailing data", func(b []byte) []byte { return append(b, 0) }, "trailing"},
		{"bit flipped in the payload", func(b []byte) []byte { b[len(b)-20] ^= 4; return b }, "checksum mismatch"},
		{"bit flipped in the header", func(b []byte) []byte { b[13] ^= 1; return b }, "checksum mismatch"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, "bad magic"},
		{"not a registry", func([]byte) []byte { return []byte("[security.encryption]\n") }, "bad magic"},
		{"future version", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[8:], 2)
			binary.BigEndian.PutUint32(b[len(b)-4:], crc32c(b[:len(b)-4]))
			return b
		}, "format version 2"},
	}
	for _, c := range corruptions {
		cases = append(cases, struct {
			name  string
			setup func(t *testing.T, e env) func() error
			want  []error
			not   []error
			says  []string
		}{
			name: "registry: " + c.name,
			setup: func(t *testing.T, e env) func() error {
				master := fileKey(t)
				registryUnder(t, e, master)
				rewrite(t, e, c.f)
				return func() error {
					cfg := cfgWith(master, MethodAES256CTR, e.c)
					cfg.Previous = fileKey(t)
					_, err := OpenRegistry(ctx, OSFS{}, e.store, cfg)
					return err
				}
			},
			want: []error{ErrCorruptRegistry}, not: []error{ErrWrongMasterKey}, says: []string{"$reg", c.says},
		})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := env{store: t.TempDir(), keydir: t.TempDir(), c: newClock()}
			action := c.setup(t, e)
			e.c.Advance(1000 * DefaultRotationPeriod) // so an open that got through would rotate and write
			before := dirSnapshot(t, e.store, e.keydir)
			err := action()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not match %v", err, w)
				}
			}
			for _, n := range c.not {
				if errors.Is(err, n) {
					t.Errorf("error %q matches %v", err, n)
				}
			}
			for _, s := range c.says {
				s = strings.ReplaceAll(s, "$reg", regPath(e))
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			sameSnapshot(t, c.name, before, dirSnapshot(t, e.store, e.keydir))
		})
	}
}

// TestEveryBitFlip: any single flipped bit anywhere in the registry is
// reported as corruption, and the file stays as it was.
func TestEveryBitFlip(t *testing.T) {
	fsys, c, master := newMemFS(), newClock(), fileKey(t)
	r := mustOpen(t, fsys, "/db", cfgWith(master, MethodAES256CTR, c))
	r.RotateDataKey(context.Background())
	r.Close()
	orig := []byte(fsys.snapshot()["/db/"+RegistryFile])
	c.Advance(2 * DefaultRotationPeriod)
	for bit := range 8 * len(orig) {
		b := append([]byte(nil), orig...)
		b[bit/8] ^= 1 << (bit % 8)
		fsys.put("/db/"+RegistryFile, b)
		before := fsys.snapshot()
		_, err := OpenRegistry(context.Background(), fsys, "/db", cfgWith(master, MethodAES256CTR, c))
		if !errors.Is(err, ErrCorruptRegistry) {
			t.Fatalf("bit %d flipped: %v, want ErrCorruptRegistry", bit, err)
		}
		sameSnapshot(t, "bit flip", before, fsys.snapshot())
	}
}
