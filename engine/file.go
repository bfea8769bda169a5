package engine

import (
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// file is a vfs.File whose bytes on disk are the CTR encryption of what
// Pebble reads and writes. Byte i of the file is XORed with byte i of the
// file's keystream, so offsets and sizes are those of the plaintext and any
// range can be read or written on its own.
type file struct {
	vfs.File // the base file; the methods below override data I/O
	fs       *FS
	name     string
	ks       keystream  // nil: a plaintext file, passed through
	kc       *keyCipher // the reference this file holds, nil for plaintext
	ws       *written   // what ks has encrypted; nil unless open for writing
	stats    *methodStats
	// writerRel is the path of a file opened for writing, "" otherwise.
	writerRel string
	// pos mirrors the base file's offset for Read and Write, which share
	// it as an os.File's do; the vfs contract makes them sequential.
	pos    int64
	closed atomic.Bool
}

var _ vfs.File = (*file)(nil)

// Write encrypts p in place, as vfs.File allows, and writes it. If the base
// file takes only part of p, the rest is decrypted again before returning,
// so a caller that retries the remainder (Pebble's ENOSPC wrapper does)
// writes plaintext through us once more rather than ciphertext twice.
func (f *file) Write(p []byte) (int, error) {
	if err := f.usable("write"); err != nil {
		return 0, err
	}
	if f.ks == nil {
		n, err := f.File.Write(p)
		f.pos += int64(n)
		return n, err
	}
	if !f.appends(f.pos, len(p)) {
		if err := f.claim(f.pos, len(p)); err != nil {
			return 0, err
		}
	}
	f.ks.XORKeyStreamAt(p, p, uint64(f.pos))
	n, err := f.File.Write(p)
	if n < len(p) {
		f.ks.XORKeyStreamAt(p[n:], p[n:], uint64(f.pos+int64(n)))
		f.unclaim(f.pos+int64(n), f.pos+int64(len(p)))
	}
	f.pos += int64(n)
	f.stats.encrypted.Add(uint64(n))
	return n, err
}

// WriteAt encrypts into pooled scratch buffers: unlike Write, vfs.File does
// not let WriteAt modify p, and a caller may still use it (Pebble's shared
// cache writes the buffer it hands back to readers).
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.usable("write"); err != nil {
		return 0, err
	}
	if f.ks == nil {
		return f.File.WriteAt(p, off)
	}
	if !f.appends(off, len(p)) {
		if err := f.claim(off, len(p)); err != nil {
			return 0, err
		}
	}
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	buf := *bp
	var done int
	for done < len(p) {
		chunk := p[done:min(len(p), done+len(buf))]
		b := buf[:len(chunk)]
		f.ks.XORKeyStreamAt(b, chunk, uint64(off+int64(done)))
		n, err := f.File.WriteAt(b, off+int64(done))
		done += n
		f.stats.encrypted.Add(uint64(n))
		if err != nil {
			f.unclaim(off+int64(done), off+int64(len(p)))
			return done, err
		}
	}
	return done, nil
}

// scratchSize bounds the scratch buffer of WriteAt: large enough that the
// kernels run at full speed, small enough to stay in cache.
const scratchSize = 64 << 10

var scratchPool = sync.Pool{New: func() any { b := make([]byte, scratchSize); return &b }}

func (f *file) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	if f.ks != nil && n > 0 {
		f.ks.XORKeyStreamAt(p[:n], p[:n], uint64(f.pos))
		f.stats.decrypted.Add(uint64(n))
	}
	f.pos += int64(n)
	return n, err
}

// ReadAt decrypts in place in p: no copy, no allocation, safe from many
// goroutines at once (the keystream is stateless).
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if f.ks != nil && n > 0 {
		f.ks.XORKeyStreamAt(p[:n], p[:n], uint64(off))
		f.stats.decrypted.Add(uint64(n))
	}
	return n, err
}

// Close closes the base file, then gives back what the FS took for it
// (FS.unwrap).
func (f *file) Close() error {
	if f.closed.Swap(true) {
		return f.File.Close() // the base file reports the double close
	}
	err := f.File.Close()
	f.fs.unwrap(f)
	return err
}
