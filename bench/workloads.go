package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cockroachdb/pebble/v2"
)

// Keys are 16 bytes, zero-padded decimal indexes ("0000000000001234"), so
// index order is key order, as in db_bench.
const keySize = 16

func appendKey(dst []byte, i int) []byte {
	var b [keySize]byte
	for j := keySize - 1; j >= 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return append(dst, b[:]...)
}

// valuePool is a block of bytes that values are cut from at random
// offsets: every 256-byte stretch is 128 random bytes written twice, so
// values compress to about half under Snappy, like db_bench's default
// (--compression_ratio=0.5). Incompressible values would overstate what is
// encrypted per user byte; constant ones would understate it.
type valuePool []byte

const poolSize = 1 << 20

func newValuePool(seed uint64, valueSize int) valuePool {
	r := rand.New(rand.NewPCG(seed, 0x76616c7565))
	p := make([]byte, poolSize+valueSize+256)
	for off := 0; off < len(p); off += 256 {
		half := p[off:min(off+128, len(p))]
		for i := range half {
			half[i] = byte(r.Uint32())
		}
		copy(p[min(off+128, len(p)):min(off+256, len(p))], half)
	}
	return p
}

func (p valuePool) value(r *rand.Rand, size int) []byte {
	off := r.IntN(poolSize)
	return p[off : off+size]
}

// outcome is what the workers of one run did.
type outcome struct {
	ops, bytes, misses int64
	hist               *hdrhistogram.Histogram
}

func (o *outcome) add(p outcome) {
	o.ops += p.ops
	o.bytes += p.bytes
	o.misses += p.misses
	o.hist.Merge(p.hist)
}

// worker is one goroutine's state: its own random source, buffers and
// histogram, so workers share nothing but the DB.
type worker struct {
	db   *pebble.DB
	cfg  *Config
	pool valuePool
	r    *rand.Rand
	key  []byte
	out  outcome
}

func (w *worker) set(i int) error {
	w.key = appendKey(w.key[:0], i)
	v := w.pool.value(w.r, w.cfg.ValueSize)
	if err := w.db.Set(w.key, v, pebble.NoSync); err != nil {
		return err
	}
	w.out.bytes += int64(len(w.key) + len(v))
	return nil
}

func (w *worker) get(i int) error {
	w.key = appendKey(w.key[:0], i)
	v, closer, err := w.db.Get(w.key)
	if errors.Is(err, pebble.ErrNotFound) {
		w.out.misses++
		return nil
	}
	if err != nil {
		return err
	}
	w.out.bytes += int64(len(w.key) + len(v))
	return closer.Close()
}

// scan reads ScanLength entries from key i on, through a new iterator
// (as a range read would).
func (w *worker) scan(i int) error {
	w.key = appendKey(w.key[:0], i)
	it, err := w.db.NewIter(nil)
	if err != nil {
		return err
	}
	n := 0
	for ok := it.SeekGE(w.key); ok && n < w.cfg.ScanLength; ok = it.Next() {
		w.out.bytes += int64(len(it.Key()) + len(it.Value()))
		n++
	}
	if n == 0 {
		w.out.misses++
	}
	return errors.Join(it.Error(), it.Close())
}

// op runs one operation of a workload on a random key and records its
// latency.
func (w *worker) op(wl Workload) error {
	n := w.cfg.Keys
	t0 := time.Now()
	var err error
	switch wl {
	case Overwrite:
		err = w.set(w.r.IntN(n))
	case ReadRandom:
		err = w.get(w.r.IntN(n))
	case Scan:
		err = w.scan(w.r.IntN(max(1, n-w.cfg.ScanLength+1)))
	case Mixed:
		if w.r.IntN(100) < w.cfg.ReadPercent {
			err = w.get(w.r.IntN(n))
		} else {
			err = w.set(w.r.IntN(n))
		}
	default:
		return fmt.Errorf("bench: %s is not a workload on a loaded store", wl)
	}
	recordLatency(w.out.hist, time.Since(t0))
	w.out.ops++
	return err
}

// runSlice runs n operations of workload wl on s and measures them: a
// fill writes keys 0 to n-1 (in order, or shuffled) into s, which is
// empty; the other workloads run on s loaded with Keys keys. seed fixes
// the keys and values: every method of one round sees the same. Workloads
// that write end by flushing the memtable and waiting until no flush or
// compaction runs, inside the measured interval, so a slice pays for the
// background work it caused and leaves none to the next.
func (c *Config) runSlice(ctx context.Context, wl Workload, s *store, pool valuePool, seed uint64, n int) (Run, error) {
	var order []uint32 // the fill order: indexes into the key space
	if wl == FillRandom {
		order = shuffledKeys(n, seed)
	}
	// Garbage from earlier slices and phases is collected now, not
	// during the measurement.
	runtime.GC()
	defer s.cacheRoom()()
	before := s.db.Metrics().BlockCache

	var (
		next  atomic.Int64 // the next operation to run
		wg    sync.WaitGroup
		mu    sync.Mutex
		total = outcome{hist: newHistogram()}
		errs  []error
	)
	var helper0 time.Duration
	if s.helperCPU != nil {
		helper0 = s.helperCPU()
	}
	m := startMeter()
	for id := range c.Concurrency {
		w := &worker{
			db: s.db, cfg: c, pool: pool,
			r:   rand.New(rand.NewPCG(seed, uint64(id)+1)),
			out: outcome{hist: newHistogram()},
		}
		wg.Go(func() {
			var err error
			for i := 0; err == nil; i++ {
				if i%256 == 255 && ctx.Err() != nil {
					err = ctx.Err()
					break
				}
				k := int(next.Add(1) - 1)
				if k >= n {
					break
				}
				if wl.preloaded() {
					err = w.op(wl)
					continue
				}
				if order != nil {
					k = int(order[k])
				}
				t0 := time.Now()
				err = w.set(k)
				recordLatency(w.out.hist, time.Since(t0))
				w.out.ops++
			}
			mu.Lock()
			defer mu.Unlock()
			total.add(w.out)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Run{}, err
	}
	end := time.Now()
	foreground := end.Sub(m.start)
	if wl.writes() {
		// Writing is done when the data is in tables: the flush and the
		// compactions it triggers encrypt most of the bytes.
		if err := s.db.Flush(); err != nil {
			return Run{}, err
		}
		if !wl.preloaded() {
			// A fill's store compacts only here: all it wrote, into one
			// level.
			if err := s.db.Compact(ctx, appendKey(nil, 0), appendKey(nil, n), false); err != nil {
				return Run{}, err
			}
		}
		var err error
		if end, err = s.waitIdle(); err != nil {
			return Run{}, err
		}
	}
	wall, user, sys := m.stop(end)
	var helper time.Duration
	if s.helperCPU != nil {
		helper = s.helperCPU() - helper0
	}
	met := s.db.Metrics()
	return Run{
		Workload:    wl,
		Ops:         total.ops,
		Bytes:       total.bytes,
		Misses:      total.misses,
		Wall:        wall,
		Foreground:  foreground,
		User:        user,
		Sys:         sys,
		Helper:      helper,
		Latency:     latencyOf(total.hist),
		TableBytes:  met.Total().TablesSize,
		CacheHits:   met.BlockCache.Hits - before.Hits,
		CacheMisses: met.BlockCache.Misses - before.Misses,
	}, nil
}

// shuffledKeys is fillrandom's order: every index below n once, shuffled.
// A permutation rather than random draws, so the store ends with exactly n
// keys, as after fillseq.
func shuffledKeys(n int, seed uint64) []uint32 {
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	r := rand.New(rand.NewPCG(seed, 0x6f72646572))
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// preload writes every key in order in large batches, flushes, and waits
// for compactions to settle, so the measured workload starts on a store
// whose data is all in tables.
func (c *Config) preload(ctx context.Context, s *store, pool valuePool, seed uint64) error {
	const batchKeys = 1000
	r := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	var key []byte
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	for i := 0; i < c.Keys; i++ {
		key = appendKey(key[:0], i)
		if err := b.Set(key, pool.value(r, c.ValueSize), nil); err != nil {
			return err
		}
		if b.Count() >= batchKeys || i == c.Keys-1 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Reset()
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := s.db.Flush(); err != nil {
		return err
	}
	_, err := s.waitIdle()
	return err
}
