package engine

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// openStores is the registry of the stores open in this process. It has to
// be process-wide: TDE-LOCK is a POSIX record lock, which belongs to the
// process, not to a descriptor, so a second FS of this process on the same
// store gets the lock again and closing it releases the first FS's; and
// Pebble's own check for locks this process holds compares path strings,
// which a symlink, a relative path or a trailing slash gets past. Two FSes
// on one store would each take the other's live dictionary log for a
// crashed one. Only the process can tell its FSes apart, so it keeps this
// map of what it has open.
var openStores = struct {
	mu sync.Mutex
	m  map[storeID]string // the directory as the FS that has it open named it
}{m: make(map[storeID]string)}

// storeID identifies a store directory by what it is: its device and inode
// when the base FS reports them (the disk, and wrappers that pass Stat's Sys
// through, such as vfs.WithDiskHealthChecks and errorfs), otherwise the
// innermost FS value (vfs.Root) and the cleaned absolute path, which is what
// a MemFS has (its working directory is its root). A wrapper that maps
// paths would make two stores look alike: that can only refuse too much.
type storeID struct {
	dev, ino uint64
	fs       any
	path     string
}

// StoreOpenError reports an Open of a store that an FS of this process
// already has open, perhaps under another spelling of its path. It matches
// ErrStoreInUse.
type StoreOpenError struct {
	Dir    string // the directory as this Open named it
	OpenAs string // as the FS that has it open named it
}

func (e *StoreOpenError) Error() string {
	return fmt.Sprintf("engine: store %s is already open in this process as %s (one FS per store: close that FS first, or share it)", e.Dir, e.OpenAs)
}

func (e *StoreOpenError) Is(target error) bool { return target == ErrStoreInUse }

// claimStore records that the store in dir (spelled so by the caller) on
// base is open and returns what releases it; a store already open in this
// process is a *StoreOpenError naming both spellings. It only reads: claim
// before touching anything on disk.
func claimStore(base vfs.FS, dir, spelled string) (release func(), err error) {
	fi, err := base.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: store directory %s: %w", dir, err)
	}
	var id storeID
	if dev, ino, ok := inodeOf(fi); ok {
		id.dev, id.ino = dev, ino
	} else {
		root := vfs.Root(base)
		id.path = filepath.Clean(dir)
		if root == vfs.Default {
			if abs, err := filepath.Abs(dir); err == nil {
				id.path = abs
			}
		} else if !filepath.IsAbs(id.path) {
			// A MemFS has no working directory: "s" is "/s".
			id.path = filepath.Join(string(filepath.Separator), id.path)
		}
		// A map key must be comparable; an FS value that is not stands
		// for every FS of its type, which can only refuse too much.
		if v := reflect.ValueOf(root); v.IsValid() && v.Comparable() {
			id.fs = root
		} else {
			id.fs = reflect.TypeOf(root)
		}
	}
	openStores.mu.Lock()
	defer openStores.mu.Unlock()
	if held, ok := openStores.m[id]; ok {
		return nil, &StoreOpenError{Dir: spelled, OpenAs: held}
	}
	openStores.m[id] = spelled
	var once sync.Once
	return func() {
		once.Do(func() {
			openStores.mu.Lock()
			delete(openStores.m, id)
			openStores.mu.Unlock()
		})
	}, nil
}
