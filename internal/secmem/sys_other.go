//go:build !unix

package secmem

import "errors"

// platform has no mmap here: Alloc serves the heap, and Status says so.
type platform struct{}

func (platform) chunkSize() int { return 16 << 10 }

func (platform) mapChunk(int) ([]byte, error, error, error) {
	return nil, nil, nil, errors.New("secmem: no locked memory on this platform; key memory comes from the Go heap")
}
