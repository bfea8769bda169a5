package keys

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse runs readers that take the active key the way the
// engine will (under its file lock, recording the key as in use before
// releasing it) against writers that rotate on age, change the method,
// rotate the master key and drop unused keys. Run with -race. Every key a
// reader holds must be whole (not zeroed, the right length), the metadata
// consistent, and the registry on disk at the end equal to the one in
// memory.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	fsys, c := newMemFS(), newClock()
	r := mustOpen(t, fsys, "/db", cfgWith(fileKey(t), MethodAES256CTR, c))

	var (
		fileMu  sync.RWMutex // the engine's: file creation vs Retain
		usersMu sync.Mutex
		users   = map[uint64]int{} // key id → files using it
	)
	iterations, writes := 2000, 150
	if testing.Short() {
		iterations, writes = 500, 50
	}
	errc := make(chan error, 16)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range iterations {
				fileMu.RLock()
				k := r.Active()
				usersMu.Lock()
				users[k.ID()]++
				usersMu.Unlock()
				fileMu.RUnlock()

				b := k.Key()
				if len(b) != k.Method().KeySize() || len(b) > 0 && bytes.Equal(b, make([]byte, len(b))) {
					report(errors.New("a reader saw a destroyed or mis-sized key: " + k.String()))
				}
				if got, err := r.Key(k.ID()); err != nil || got.ID() != k.ID() {
					report(errors.New("a key in use was not found"))
				}
				active := 0
				for _, ki := range r.Keys() {
					if ki.Active {
						active++
					}
				}
				if active > 1 {
					report(errors.New("Keys() lists two active keys"))
				}

				usersMu.Lock()
				users[k.ID()]--
				usersMu.Unlock()
			}
		})
	}
	wg.Go(func() { // rotation on age and on demand
		for range writes {
			c.Advance(DefaultRotationPeriod / 2)
			if _, err := r.MaybeRotate(ctx); err != nil {
				report(err)
			}
			if err := r.RotateDataKey(ctx); err != nil {
				report(err)
			}
		}
	})
	wg.Go(func() { // method and master-key changes
		methods := Methods()
		for i := range writes {
			if err := r.SetMethod(ctx, methods[i%len(methods)]); err != nil {
				report(err)
			}
			if i%10 == 0 {
				if err := r.RotateMasterKey(ctx, fileKey(t)); err != nil {
					report(err)
				}
			}
		}
	})
	wg.Go(func() { // dropping keys no file uses
		for range writes {
			fileMu.Lock()
			_, err := r.Retain(ctx, func(id uint64) bool {
				usersMu.Lock()
				defer usersMu.Unlock()
				return users[id] > 0
			})
			fileMu.Unlock()
			if err != nil {
				report(err)
			}
			time.Sleep(time.Microsecond)
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}

	want, master, method := keyBytes(r), r.Master(), r.Method()
	r.Close()
	cfg := cfgWith(master, method, c)
	cfg.RotationPeriod = 1000 * DefaultRotationPeriod // compare, do not rotate
	r2 := mustOpen(t, fsys, "/db", cfg)
	if !maps.Equal(keyBytes(r2), want) {
		t.Error("the registry on disk differs from the one in memory")
	}
}
