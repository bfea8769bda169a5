package keys

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// The registry file, format version 1 (integers big-endian):
//
//	magic "TDEKEYS\x00" | version u16 | kind-len u8 | kind | id-len u16 | id
//	| payload-len u32 | payload | crc32c u32
//
// kind and id name the master key that wrapped the payload (id is not
// secret: a fingerprint, key id or KMS key name). Everything up to and
// including id is the header, given to the master key as additional
// authenticated data, so the version and the master key's name cannot be
// changed without detection. The payload is the body wrapped by the master
// key (the body itself under a plaintext master key). The CRC-32C covers
// every byte before it and tells corruption from a wrong master key.
//
// The body, once unwrapped:
//
//	active-id u64 | count u32 | count × (id u64 | method u8 | created i64 (Unix ns) | key-len u8 | key)
//
// active-id is 0 while the method is plaintext. The body is encrypted and
// authenticated as a whole, so every key's id, method and creation time are.
const (
	fileMagic     = "TDEKEYS\x00"
	formatVersion = 1
	maxPayload    = 64 << 20
	entryFixed    = 8 + 1 + 8 + 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// fileHeader is the decoded header of a registry file.
type fileHeader struct {
	kind, id string
}

// encodeHeader returns the header bytes (the wrap AAD).
func encodeHeader(kind, id string) []byte {
	b := make([]byte, 0, len(fileMagic)+2+1+len(kind)+2+len(id))
	b = append(b, fileMagic...)
	b = binary.BigEndian.AppendUint16(b, formatVersion)
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
	b = append(b, id...)
	return b
}

// encodeFile assembles a registry file from its header and wrapped payload.
func encodeFile(header, payload []byte) []byte {
	b := make([]byte, 0, len(header)+4+len(payload)+4)
	b = append(b, header...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// corruptError is a decoding failure; the registry adds the path.
type corruptError string

func (e corruptError) Error() string { return string(e) }

func corruptf(format string, args ...any) error { return corruptError(fmt.Sprintf(format, args...)) }

// decodeFile splits a registry file into its header (the AAD bytes and the
// decoded fields) and payload. It checks structure and checksum only.
func decodeFile(b []byte) (h fileHeader, aad, payload []byte, err error) {
	if len(b) < len(fileMagic) {
		if string(b) == fileMagic[:len(b)] {
			return h, nil, nil, corruptf("truncated to %d bytes", len(b))
		}
		return h, nil, nil, corruptf("not a tde key registry (bad magic)")
	}
	if string(b[:len(fileMagic)]) != fileMagic {
		return h, nil, nil, corruptf("not a tde key registry (bad magic)")
	}
	d := decoder{b: b, off: len(fileMagic)}
	v, ok := d.u16()
	if !ok {
		return h, nil, nil, corruptf("truncated to %d bytes", len(b))
	}
	if v != formatVersion {
		return h, nil, nil, corruptf("format version %d; this build reads version %d", v, formatVersion)
	}
	kl, ok := d.u8()
	kind, ok2 := d.bytes(int(kl))
	il, ok3 := d.u16()
	id, ok4 := d.bytes(int(il))
	aadEnd := d.off
	pl, ok5 := d.u32()
	if !(ok && ok2 && ok3 && ok4 && ok5) {
		return h, nil, nil, corruptf("truncated to %d bytes", len(b))
	}
	if pl > maxPayload {
		return h, nil, nil, corruptf("payload length %d is implausible", pl)
	}
	payload, ok = d.bytes(int(pl))
	crcEnd := d.off
	sum, ok2 := d.u32()
	if !ok || !ok2 {
		return h, nil, nil, corruptf("truncated to %d bytes", len(b))
	}
	if crc32.Checksum(b[:crcEnd], crcTable) != sum {
		return h, nil, nil, corruptf("checksum mismatch")
	}
	if d.off != len(b) {
		return h, nil, nil, corruptf("%d bytes of trailing data", len(b)-d.off)
	}
	return fileHeader{kind: string(kind), id: string(id)}, b[:aadEnd], payload, nil
}

// encodeBody serializes the data keys. The caller zeroes the result after
// wrapping it.
func encodeBody(active uint64, keys []*DataKey) []byte {
	n := 8 + 4
	for _, k := range keys {
		n += entryFixed + len(k.Key())
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint64(b, active)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint64(b, k.id)
		b = append(b, byte(k.method))
		b = binary.BigEndian.AppendUint64(b, uint64(k.created.UnixNano()))
		b = append(b, byte(len(k.Key())))
		b = append(b, k.Key()...)
	}
	return b
}

// decodeBody parses and validates a body: every key has a known, encrypting
// method and that method's length, ids are non-zero and unique, and the
// active id is 0 or one of the keys. The keys copy their bytes out of b.
func decodeBody(b []byte) (active uint64, keys []*DataKey, err error) {
	d := decoder{b: b}
	active, ok := d.u64()
	count, ok2 := d.u32()
	if !ok || !ok2 {
		return 0, nil, corruptf("body truncated to %d bytes", len(b))
	}
	if uint64(count) > uint64(len(b)-d.off)/entryFixed {
		return 0, nil, corruptf("body claims %d keys in %d bytes", count, len(b))
	}
	seen := make(map[uint64]bool, count)
	fail := func(e error) (uint64, []*DataKey, error) {
		for _, k := range keys {
			k.Destroy()
		}
		return 0, nil, e
	}
	for i := range int(count) {
		id, ok1 := d.u64()
		m, ok2 := d.u8()
		created, ok3 := d.u64()
		kl, ok4 := d.u8()
		kb, ok5 := d.bytes(int(kl))
		if !(ok1 && ok2 && ok3 && ok4 && ok5) {
			return fail(corruptf("body truncated in key %d of %d", i+1, count))
		}
		method := Method(m)
		switch {
		case id == 0:
			return fail(corruptf("key %d of %d has id 0", i+1, count))
		case seen[id]:
			return fail(corruptf("key id %s appears twice", FormatID(id)))
		case !method.valid() || method == MethodPlaintext:
			return fail(corruptf("key %s has method %v", FormatID(id), method))
		case int(kl) != method.KeySize():
			return fail(corruptf("key %s is %d bytes for %v, which takes %d", FormatID(id), kl, method, method.KeySize()))
		}
		seen[id] = true
		keys = append(keys, &DataKey{id: id, method: method, created: time.Unix(0, int64(created)).UTC(), key: newSecret(kb)})
	}
	if d.off != len(b) {
		return fail(corruptf("%d bytes of trailing data in the body", len(b)-d.off))
	}
	if active != 0 && !seen[active] {
		return fail(corruptf("active key %s is not in the registry", FormatID(active)))
	}
	return active, keys, nil
}

// decoder reads big-endian fields; each read reports whether the bytes were
// there.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) bytes(n int) ([]byte, bool) {
	if n < 0 || len(d.b)-d.off < n {
		d.off = len(d.b)
		return nil, false
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s, true
}

func (d *decoder) u8() (uint8, bool) {
	s, ok := d.bytes(1)
	if !ok {
		return 0, false
	}
	return s[0], true
}

func (d *decoder) u16() (uint16, bool) {
	s, ok := d.bytes(2)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint16(s), true
}

func (d *decoder) u32() (uint32, bool) {
	s, ok := d.bytes(4)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint32(s), true
}

func (d *decoder) u64() (uint64, bool) {
	s, ok := d.bytes(8)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint64(s), true
}
