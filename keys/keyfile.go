package keys

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tde-go/tde/internal/privfile"
)

// LoadOption changes how a key file is loaded.
type LoadOption func(*loadOptions)

type loadOptions struct {
	allowLoose bool
}

// AllowLoosePermissions accepts a key file that group or others can read.
// Without it such a file is refused (ErrLoosePermissions): a master key
// others can read protects nothing.
func AllowLoosePermissions() LoadOption {
	return func(o *loadOptions) { o.allowLoose = true }
}

// The largest raw key file (32-byte id, 32-byte key) and hex key file (64
// hex characters and a newline). Reading stops a little past the larger, so
// a huge file is reported by its size without being read.
const (
	hexKeyFileSize = 65
	maxKeyFileRead = 4096
)

// LoadHexKeyFile reads a master key in TiKV's `file` format: exactly 64 hex
// characters (either case), then a newline, nothing else: a 32-byte
// AES-256-GCM key. Errors match ErrInvalidKeyFile or ErrLoosePermissions and
// name the file and what is wrong with it.
func LoadHexKeyFile(path string, opts ...LoadOption) (MasterKey, error) {
	b, err := readKeyFile(path, opts)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := parseHexKey(b, path)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ParseHexKey is LoadHexKeyFile for a key already in memory (from a secret
// store, say). It does not keep b.
func ParseHexKey(b []byte) (MasterKey, error) {
	k, err := parseHexKey(b, "")
	if err != nil {
		return nil, err
	}
	return k, nil
}

// LoadRawKeyFile reads a master key in CockroachDB's store-key format: a
// 32-byte key id followed by a 16, 24 or 32-byte AES key (48, 56 or 64
// bytes, as `openssl rand 48` makes). The key wraps with AES-GCM of its own
// size. Errors match ErrInvalidKeyFile or ErrLoosePermissions and name the
// file.
func LoadRawKeyFile(path string, opts ...LoadOption) (MasterKey, error) {
	b, err := readKeyFile(path, opts)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := parseRawKey(b, path)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ParseRawKey is LoadRawKeyFile for a key already in memory. It does not
// keep b.
func ParseRawKey(b []byte) (MasterKey, error) {
	k, err := parseRawKey(b, "")
	if err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKeyFile writes a new random master key to path, for LoadHexKeyFile
// or LoadRawKeyFile to read: in TiKV's format for kind KindFile (bits 256
// only), in CockroachDB's for KindRaw (a random 32-byte id, then a key of
// 128, 192 or 256 bits). The key leaves this function only in the file.
//
// It never replaces anything, since a store may be wrapped under the key
// there: the file is created mode 0600, exclusively and without following
// a symlink, and a name already taken is an error matching fs.ErrExist,
// with the name left as it was. The file, then its directory, is synced
// before WriteKeyFile returns: a key file lost to a power cut after a store
// was wrapped under it would lose the store. On another error no file is
// left at path.
func WriteKeyFile(path, kind string, bits int) error {
	var data []byte
	switch {
	case kind == KindFile && bits == 256:
		var k [32]byte
		defer clear(k[:])
		rand.Read(k[:])
		data = make([]byte, hex.EncodedLen(len(k)), hexKeyFileSize)
		hex.Encode(data, k[:])
		data = append(data, '\n')
	case kind == KindRaw && (bits == 128 || bits == 192 || bits == 256):
		data = make([]byte, 32+bits/8)
		rand.Read(data)
	default:
		return fmt.Errorf("keys: writing key file %s: a %q key file cannot hold a %d-bit key (hex: 256; raw: 128, 192 or 256)", path, kind, bits)
	}
	defer clear(data)
	f, err := privfile.CreateNew(path)
	if err != nil {
		return fmt.Errorf("keys: creating key file: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && runtime.GOOS != "windows" { // Windows cannot sync a directory, and needs not
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("keys: writing key file %s: %w", path, err)
	}
	return nil
}

// readKeyFile opens path, checks its mode on the open file (no window
// between the check and the read), and reads it.
func readKeyFile(path string, opts []LoadOption) ([]byte, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	// Refuse non-regular files before opening: opening a FIFO would block.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, &KeyFileError{Path: path, Mode: st.Mode(), Err: ErrInvalidKeyFile,
			Reason: fmt.Sprintf("is not a regular file (mode %v)", st.Mode())}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: master key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: master key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &KeyFileError{Path: path, Mode: st.Mode(), Err: ErrInvalidKeyFile,
			Reason: fmt.Sprintf("is not a regular file (mode %v)", st.Mode())}
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && !o.allowLoose {
		return nil, &KeyFileError{Path: path, Mode: st.Mode(), Err: ErrLoosePermissions,
			Reason: fmt.Sprintf("mode %04o (%v) gives group or others access to it; chmod 600 it, or allow loose permissions explicitly", perm, perm)}
	}
	b := make([]byte, 0, 128)
	for {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), 2*cap(b))
			copy(nb, b)
			clear(b)
			b = nb
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			clear(b)
			return nil, fmt.Errorf("keys: master key file: %w", err)
		}
		if len(b) > maxKeyFileRead {
			clear(b)
			return nil, &KeyFileError{Path: path, Err: ErrInvalidKeyFile,
				Reason: fmt.Sprintf("is %d bytes; a master key file is 65 bytes (hex) or 48, 56 or 64 bytes (raw)", st.Size())}
		}
	}
}

func hexFileError(path, format string, args ...any) error {
	return &KeyFileError{Path: path, Err: ErrInvalidKeyFile,
		Reason: fmt.Sprintf(format, args...) + "; want exactly 64 hex characters and a newline"}
}

// parseHexKey checks b byte by byte so that the error says exactly what is
// wrong. It names positions (0-based byte offsets) and never the bytes at
// them, which may be key material.
func parseHexKey(b []byte, path string) (*localKey, error) {
	if len(b) == 0 {
		return nil, hexFileError(path, "is empty")
	}
	n := 0 // hex digits before the first non-hex byte
	for n < len(b) && n < 64 && isHex(b[n]) {
		n++
	}
	switch {
	case n < 64 && n == len(b):
		return nil, hexFileError(path, "holds %d hex characters and no newline", n)
	case n < 64 && b[n] == '\n':
		return nil, hexFileError(path, "holds %d hex characters before the newline (a 32-byte key is 64)", n)
	case n < 64:
		return nil, hexFileError(path, "byte %d is %s, not a hex digit", n, describeByte(b[n]))
	case len(b) == 64:
		return nil, hexFileError(path, "has no newline after the 64 hex characters")
	case b[64] == '\r':
		return nil, hexFileError(path, "ends its line with \\r\\n (a Windows line ending)")
	case isHex(b[64]):
		more := 1
		for 64+more < len(b) && isHex(b[64+more]) {
			more++
		}
		return nil, hexFileError(path, "holds %d or more hex characters (a 32-byte key is 64)", 64+more)
	case b[64] != '\n':
		return nil, hexFileError(path, "byte 64 is %s, not the newline", describeByte(b[64]))
	case len(b) > hexKeyFileSize:
		return nil, hexFileError(path, "has %d bytes of trailing data after the newline", len(b)-hexKeyFileSize)
	}
	var key [32]byte
	defer clear(key[:])
	if _, err := hex.Decode(key[:], b[:64]); err != nil {
		return nil, hexFileError(path, "is not hex") // unreachable: every byte was checked
	}
	return newLocalKey(KindFile, path, "", key[:]), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// describeByte names a byte that is not a hex digit. Whitespace and
// punctuation are named; anything else is reported only by class, since it
// may be part of a key (a raw key file given as a hex one).
func describeByte(c byte) string {
	switch c {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	case '\r':
		return "a carriage return"
	case '\n':
		return "a newline"
	case 0:
		return "a NUL byte"
	}
	if c >= 0x80 {
		return "a non-ASCII byte"
	}
	if c < 0x20 || c == 0x7f {
		return "a control character"
	}
	return "a character that is not [0-9a-fA-F]"
}

func parseRawKey(b []byte, path string) (*localKey, error) {
	switch len(b) {
	case 48, 56, 64:
	default:
		return nil, &KeyFileError{Path: path, Err: ErrInvalidKeyFile,
			Reason: fmt.Sprintf("is %d bytes; want 48, 56 or 64 (a 32-byte key id and a 16, 24 or 32-byte AES key)", len(b))}
	}
	return newLocalKey(KindRaw, path, hex.EncodeToString(b[:32]), b[32:]), nil
}
