package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"time"

	gmsm "github.com/emmansun/gmsm/sm4"
	"github.com/tde-go/tde/ctr"
	"github.com/tde-go/tde/keys"
	"github.com/tde-go/tde/sm4"
)

// CipherResult is one measurement of a raw CTR kernel: no files, no
// Pebble, one buffer encrypted in place over and over on one goroutine.
// It is the ceiling the workloads' overheads are paid against.
type CipherResult struct {
	Method keys.Method `json:"method"`
	// Impl is "tde" (this module's ctr or sm4 package, on the kernel
	// named by Backend), "stdlib" (crypto/cipher.NewCTR over
	// crypto/aes) or "gmsm" (gmsm's SM4 under crypto/cipher.NewCTR, which
	// uses gmsm's own CTR code).
	Impl     string  `json:"impl"`
	Backend  string  `json:"backend"`
	Size     int     `json:"size"` // bytes per call
	Iters    int64   `json:"iters"`
	NsPerOp  float64 `json:"ns_per_op"`
	MBPerSec float64 `json:"mb_per_sec"` // 10^6 bytes per second
}

// CipherConfig says what the cipher mode measures.
type CipherConfig struct {
	Methods  []keys.Method // plaintext is skipped
	Sizes    []int         // bytes per call
	Count    int           // repetitions of every measurement
	Duration time.Duration // per measurement
	Progress func(done, total int)
}

// DefaultCipherConfig measures every method at 64 B and 16 KiB, 6 times,
// 100 ms each: about 15 seconds.
func DefaultCipherConfig() CipherConfig {
	return CipherConfig{
		Methods:  keys.Methods(),
		Sizes:    []int{64, 16 << 10},
		Count:    6,
		Duration: 100 * time.Millisecond,
	}
}

// cipherImpl is one kernel under test: newStream builds a function that
// encrypts buf in place once.
type cipherImpl struct {
	impl, backend string
	newStream     func(key []byte) (func(buf []byte), error)
}

func cipherImpls(m keys.Method) []cipherImpl {
	if m == keys.MethodSM4CTR {
		return []cipherImpl{
			{"tde", sm4.Backend(), func(key []byte) (func([]byte), error) {
				c, err := sm4.NewCipher(key)
				if err != nil {
					return nil, err
				}
				ks := c.Keystream([16]byte{})
				return func(b []byte) { ks.XORKeyStreamAt(b, b, 0) }, nil
			}},
			{"gmsm", "gmsm", func(key []byte) (func([]byte), error) {
				blk, err := gmsm.NewCipher(key)
				if err != nil {
					return nil, err
				}
				s := cipher.NewCTR(blk, make([]byte, 16))
				return func(b []byte) { s.XORKeyStream(b, b) }, nil
			}},
		}
	}
	return []cipherImpl{
		{"tde", ctr.Backend(), func(key []byte) (func([]byte), error) {
			c, err := ctr.NewCipher(key)
			if err != nil {
				return nil, err
			}
			ks := c.Keystream([16]byte{})
			return func(b []byte) { ks.XORKeyStreamAt(b, b, 0) }, nil
		}},
		{"stdlib", "crypto/cipher", func(key []byte) (func([]byte), error) {
			blk, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			s := cipher.NewCTR(blk, make([]byte, 16))
			return func(b []byte) { s.XORKeyStream(b, b) }, nil
		}},
	}
}

// BenchmarkCiphers measures every method's kernels, tde's beside the
// standard library's (AES) or gmsm's (SM4), at every size. Repetitions are
// interleaved: each pass measures every kernel once.
func BenchmarkCiphers(ctx context.Context, cc CipherConfig) ([]CipherResult, error) {
	type job struct {
		m    keys.Method
		ci   cipherImpl
		size int
		run  func([]byte)
		buf  []byte
		n    int64
	}
	var jobs []*job
	for _, m := range cc.Methods {
		if m == keys.MethodPlaintext {
			continue
		}
		for _, size := range cc.Sizes {
			if size < 1 {
				return nil, fmt.Errorf("bench: cipher size %d, want at least 1 byte", size)
			}
			for _, ci := range cipherImpls(m) {
				run, err := ci.newStream(make([]byte, m.KeySize()))
				if err != nil {
					return nil, fmt.Errorf("%v %s: %w", m, ci.impl, err)
				}
				jobs = append(jobs, &job{m: m, ci: ci, size: size, run: run, buf: make([]byte, size)})
			}
		}
	}
	count := max(cc.Count, 1)
	var out []CipherResult
	for rep := range count {
		for i, j := range jobs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if j.n == 0 {
				j.n = calibrate(j.run, j.buf, cc.Duration)
			}
			start := time.Now()
			for range j.n {
				j.run(j.buf)
			}
			d := time.Since(start)
			out = append(out, CipherResult{
				Method: j.m, Impl: j.ci.impl, Backend: j.ci.backend, Size: j.size, Iters: j.n,
				NsPerOp:  float64(d.Nanoseconds()) / float64(j.n),
				MBPerSec: float64(j.size) * float64(j.n) / 1e6 / d.Seconds(),
			})
			if cc.Progress != nil {
				cc.Progress(rep*len(jobs)+i+1, count*len(jobs))
			}
		}
	}
	return out, nil
}

// calibrate finds an iteration count that takes about d, as the testing
// package does: grow until a run is long enough to time, then scale.
func calibrate(run func([]byte), buf []byte, d time.Duration) int64 {
	n := int64(1)
	for {
		start := time.Now()
		for range n {
			run(buf)
		}
		el := time.Since(start)
		if el >= d/10 || n >= 1<<40 {
			if el <= 0 {
				el = 1
			}
			return max(1, int64(float64(n)*float64(d)/float64(el)))
		}
		n *= 10
	}
}
