package engine

import (
	"encoding/binary"
	"hash/crc32"
)

// Record framing, used only to tell a torn tail from corruption.
const (
	blockSize       = 32 << 10 // record's block size
	chunkHeaderSize = 7        // checksum u32 | length u16 | type u8 (legacy chunks)
	fullChunk       = 1
	firstChunk      = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordStart returns where the record that starts at or after off begins:
// a block's last few bytes, too short for a chunk header, are padding.
func recordStart(off int64) int64 {
	if rest := blockSize - off%blockSize; rest < chunkHeaderSize {
		return off + rest
	}
	return off
}

// recordAfter reports whether a record starts anywhere after off in data:
// a full or first chunk that fits its block and passes its checksum.
//
// An append is synced before the next begins, so a crash leaves at most one
// record unsynced, at the end; the disk may have kept any part of it, in
// any order, zeros standing in for the rest. A bad record that a valid one
// follows was synced, and is corruption. A bad record followed by anything
// else (nothing, zeros, fragments of itself) is a torn tail.
func recordAfter(data []byte, off int64) (int64, bool) {
	// Most likely, only the payload of the bad record is damaged and its
	// header says where the next one starts.
	if off+chunkHeaderSize <= int64(len(data)) {
		next := recordStart(off + chunkHeaderSize + int64(binary.LittleEndian.Uint16(data[off+4:])))
		if validChunkAt(data, next) {
			return next, true
		}
	}
	for q := off + 1; q+chunkHeaderSize <= int64(len(data)); q++ {
		if validChunkAt(data, q) {
			return q, true
		}
	}
	return 0, false
}

// validChunkAt reports whether a full or first chunk with a good checksum
// starts at q.
func validChunkAt(data []byte, q int64) bool {
	if q < 0 || q+chunkHeaderSize > int64(len(data)) {
		return false
	}
	h := data[q : q+chunkHeaderSize]
	if t := h[6]; t != fullChunk && t != firstChunk {
		return false
	}
	end := q + chunkHeaderSize + int64(binary.LittleEndian.Uint16(h[4:]))
	if end > int64(len(data)) || q%blockSize+(end-q) > blockSize {
		return false
	}
	c := crc32.Checksum(data[q+6:end], castagnoli)
	return binary.LittleEndian.Uint32(h) == (c>>15|c<<17)+0xa282ead8
}
