package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// downKey is a master key whose service is down: it can neither wrap nor
// unwrap.
type downKey struct{}

var errKeyDown = errors.New("test: key service down")

func (downKey) Kind() string   { return keys.KindKMS }
func (downKey) ID() string     { return "alias/down" }
func (downKey) String() string { return "kms key alias/down" }
func (downKey) Close() error   { return nil }
func (downKey) Wrap(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errKeyDown
}
func (downKey) Unwrap(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errKeyDown
}

// TestFirstStartKeyDown: the first start of a store whose master key
// cannot wrap (a KMS down, tikv#9488) fails with the key's error and
// leaves nothing: no directory, no dictionary, no lock file; nor does it
// in a directory that exists.
func TestFirstStartKeyDown(t *testing.T) {
	root := t.TempDir()
	cfg := Config{Method: keys.MethodAES128CTR, MasterKey: MasterKeyConfig{Key: downKey{}}}
	dir := filepath.Join(root, "db")
	for range 2 {
		if _, err := Open(vfs.Default, dir, cfg); !errors.Is(err, errKeyDown) {
			t.Fatalf("Open with the key down: %v, want its error", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("a failed first start made the store directory: %v", err)
		}
	}
	noErr(t, os.Mkdir(dir, 0o755))
	if _, err := Open(vfs.Default, dir, cfg); !errors.Is(err, errKeyDown) {
		t.Fatalf("Open with the key down: %v, want its error", err)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("a failed first start left %v (%v) in an empty directory", left, err)
	}
}
