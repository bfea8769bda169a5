package engine

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider/sharedcache"
	"github.com/cockroachdb/pebble/v2/objstorage/remote"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/keys"
)

// TestSecondaryCacheRefused: Pebble's secondary cache rewrites blocks of
// its files in place (a keystream applied twice, or, with overwrites
// refused, a cache that silently stops caching); its files are refused at
// open, and nothing is created. On main the cache opened, and each
// eviction wrote a second plaintext under the keystream of the first.
func TestSecondaryCacheRefused(t *testing.T) {
	for _, m := range []keys.Method{keys.MethodAES128CTR, keys.MethodSM4CTR} {
		t.Run(m.String(), func(t *testing.T) {
			base := vfs.NewMem()
			f := mustOpen(t, base, "/s", testConfig(t, m))
			defer mustClose(t, f)
			_, err := sharedcache.Open(f, quietLogger{}, "/s", 1024, 4096, 16*1024, 2)
			if !errors.Is(err, ErrSecondaryCache) {
				t.Fatalf("sharedcache.Open over the engine: %v, want ErrSecondaryCache", err)
			}
			if _, err := base.Stat("/s/SHARED-CACHE-000"); err == nil {
				t.Error("SHARED-CACHE-000 was created")
			}
			if _, ok := f.dict.get("SHARED-CACHE-000"); ok {
				t.Error("SHARED-CACHE-000 got an entry")
			}
		})
	}
}

// TestPebbleSecondaryCacheRefused: pebble.Open with shared storage and a
// secondary cache on the engine fails with ErrSecondaryCache; without the
// cache, the same store opens and works.
func TestPebbleSecondaryCacheRefused(t *testing.T) {
	base := vfs.NewMem()
	f := mustOpen(t, base, "/s", testConfig(t, keys.MethodAES128CTR))
	defer mustClose(t, f)
	opts := func(cache int64) *pebble.Options {
		o := &pebble.Options{FS: f, FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}}
		o.Experimental.RemoteStorage = remote.MakeSimpleFactory(map[remote.Locator]remote.Storage{"": remote.NewInMem()})
		o.Experimental.CreateOnShared = remote.CreateOnSharedAll
		o.Experimental.SecondaryCacheSizeBytes = cache
		return o
	}
	if db, err := pebble.Open("/s", opts(32<<20)); !errors.Is(err, ErrSecondaryCache) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("pebble.Open with a secondary cache on the engine: %v, want ErrSecondaryCache", err)
	}
	db, err := pebble.Open("/s", opts(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("k"), []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
