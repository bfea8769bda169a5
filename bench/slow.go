package bench

import (
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// slowFS makes every file read and write busy-wait for a fixed time before
// doing its work. It is Config.Delay: the regression gate's tests slow one
// method on purpose and check the gate names it. A busy wait, not a sleep,
// so that CPU per GB rises too, as with a slower kernel.
type slowFS struct {
	vfs.FS
	delay time.Duration
}

func (s slowFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return slowFile{File: f, delay: s.delay}, nil
}

func (s slowFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return s.wrap(s.FS.Create(name, c))
}

func (s slowFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return s.wrap(s.FS.Open(name, opts...))
}

func (s slowFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return s.wrap(s.FS.OpenReadWrite(name, c, opts...))
}

func (s slowFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return s.wrap(s.FS.ReuseForWrite(oldname, newname, c))
}

func (s slowFS) Unwrap() vfs.FS { return s.FS }

type slowFile struct {
	vfs.File
	delay time.Duration
}

func (f slowFile) Read(p []byte) (int, error) {
	spin(f.delay)
	return f.File.Read(p)
}

func (f slowFile) ReadAt(p []byte, off int64) (int, error) {
	spin(f.delay)
	return f.File.ReadAt(p, off)
}

func (f slowFile) Write(p []byte) (int, error) {
	spin(f.delay)
	return f.File.Write(p)
}

func (f slowFile) WriteAt(p []byte, off int64) (int, error) {
	spin(f.delay)
	return f.File.WriteAt(p, off)
}

// spin busy-waits for d.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
