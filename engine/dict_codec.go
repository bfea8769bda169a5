package engine

import (
	"encoding/binary"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tde-go/tde/keys"
)

// The file dictionary's log, format version 1.
//
// The log is a sequence of records in Pebble's record format (package
// record: 32 KiB blocks of chunks, each chunk checksummed with CRC-32C), so
// a torn or altered record fails its checksum. Integers are unsigned varints
// (uvarint) unless noted. The first record is the header:
//
//	magic "TDEDICT\x00" | version uvarint | flags uvarint | created varint (Unix ns) | entries uvarint
//
// flags bit 0 (flagStrict): every file of the store was written through tde,
// so a file without an entry is an error rather than plaintext. Other bits
// are reserved and rejected. created is when the dictionary was first made;
// rewrites keep it. entries is how many entries the snapshot that follows
// holds: a hint for sizing the map, never trusted beyond what the log's
// size allows.
//
// Every later record is a type byte and one or more ops, back to back up to
// the record's end:
//
//	record   = type u8 | op…
//	type     = 1 (snapshot: written by a rewrite, right after the header)
//	         | 2 (update: appended by a synced append: the ops that waited for it, then its own)
//	op       = 1 path entry        put: path gets entry
//	         | 2 path              delete: path's entry is dropped
//	         | 3 path              delete-prefix: every entry under path/ is dropped
//	         | 4 path path entry   move: the second path gets entry, the first's is dropped
//	         | 5 entry count paths epoch: files created from here on may have no record (below)
//	         | 6                   epoch end: every file created in the epoch has its record
//	         | 7 path              exclude: path is not the epoch's, though it has no entry
//	         | 8 path path         move-prefix: a directory rename; every entry at or under the
//	                               second path/ is dropped, then every entry under the first
//	                               path/ is re-keyed under the second (below)
//	         | 9 path path         settle: the move-prefix of these paths is done
//	path     = length uvarint (> 0) | bytes (relative to the store directory, slash-separated, canonical: see checkPath)
//	entry    = method u8 | key id uvarint | IV 16 bytes
//
// Snapshot and update records hold the same ops; the type only tells replay
// how many records were appended since the last rewrite. A rewrite writes a
// move still pending (its rename not yet known to have happened) as puts of
// the two paths' previous entries followed by the move, so an open can still
// undo it.
//
// A move-prefix stays pending until its settle: an open that finds the
// first path (the source directory) on disk undoes it, restoring the
// entries it dropped and re-keyed. The engine writes the settle, synced,
// once the rename and its parent directories are durable, so a source
// directory made again later is never taken for one the rename left
// behind. A rewrite writes a pending move-prefix as puts of the state
// before it followed by the move-prefix.
//
// An epoch (opEpoch) lets a file created in the store directory go without
// a synced record of its own: its entry is implied, the epoch's method and
// key with IV = implicitIV(nonce, path), the nonce being the epoch entry's
// IV field. Its record is written later, with the next synced append. An
// open that finds an epoch not ended (a crash) gives every file directly in
// the store directory that has no entry the implied one, except the count
// paths the epoch op lists and those excluded after it: names that existed
// without an entry when the epoch began, or came to since (plaintext files
// of a store encrypted late, foreign files, lock files). A rewrite writes a
// running epoch again after the entries, with its exclusions.
//
// Unknown versions, flags, record types, op types and methods, and lengths
// running past the record, are errors: decoding never guesses. Every length
// is checked against the bytes left in the record before use, so arbitrary
// input cannot make the decoder allocate more than the record's size.
const (
	dictMagic   = "TDEDICT\x00"
	dictVersion = 1
	flagStrict  = 1 << 0

	recSnapshot = 1
	recUpdate   = 2

	opPut          = 1
	opDelete       = 2
	opDeletePrefix = 3
	opMove         = 4
	opEpoch        = 5
	opEpochEnd     = 6
	opExclude      = 7
	opMovePrefix   = 8
	opSettle       = 9

	ivLen = len(entry{}.IV)
	// minPutLen is the fewest bytes a put takes: op, path length, a
	// one-byte path, method, key id, IV.
	minPutLen = 1 + 1 + 1 + 1 + 1 + ivLen
)

// dictHeader is the decoded header record.
type dictHeader struct {
	strict  bool
	created time.Time
	entries uint64 // in the snapshot after the header
}

// dictOp is one change to the dictionary.
type dictOp struct {
	kind byte
	path string // the file; the directory for opDeletePrefix; the source for opMove, opMovePrefix, opSettle
	to   string // the destination of opMove, opMovePrefix, opSettle
	e    entry  // opPut's and opMove's entry; opEpoch's method, key and nonce
	// names are the paths opEpoch excludes.
	names []string
}

// codecError is a decoding failure; the dictionary adds the log's path and
// the record's offset.
type codecError string

func (e codecError) Error() string { return string(e) }

func codecErrorf(format string, args ...any) error {
	return codecError(fmt.Sprintf(format, args...))
}

func appendHeader(b []byte, h dictHeader) []byte {
	var flags uint64
	if h.strict {
		flags |= flagStrict
	}
	b = append(b, dictMagic...)
	b = binary.AppendUvarint(b, dictVersion)
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendVarint(b, h.created.UnixNano())
	return binary.AppendUvarint(b, h.entries)
}

func decodeHeader(p []byte) (dictHeader, error) {
	var h dictHeader
	if len(p) < len(dictMagic) || string(p[:len(dictMagic)]) != dictMagic {
		return h, codecError("bad magic: not a tde file dictionary")
	}
	d := decoder{p: p[len(dictMagic):]}
	version := d.uvarint()
	if d.err == nil && version != dictVersion {
		return h, codecErrorf("unsupported format version %d (this build reads version %d)", version, dictVersion)
	}
	flags := d.uvarint()
	if d.err == nil && flags&^flagStrict != 0 {
		return h, codecErrorf("unknown header flags %#x", flags)
	}
	created := d.varint()
	h.entries = d.uvarint()
	if d.err == nil && len(d.p) > 0 {
		return h, codecErrorf("%d unexpected bytes after the header", len(d.p))
	}
	if d.err != nil {
		return h, codecErrorf("header: %v", d.err)
	}
	h.strict = flags&flagStrict != 0
	h.created = time.Unix(0, created)
	return h, nil
}

// appendOp appends op's encoding to a record being built.
func appendOp(b []byte, op dictOp) []byte {
	b = append(b, op.kind)
	switch op.kind {
	case opEpoch:
		b = appendEntry(b, op.e)
		b = binary.AppendUvarint(b, uint64(len(op.names)))
		for _, n := range op.names {
			b = appendPath(b, n)
		}
		return b
	case opEpochEnd:
		return b
	}
	b = appendPath(b, op.path)
	switch op.kind {
	case opPut:
		b = appendEntry(b, op.e)
	case opMove:
		b = appendPath(b, op.to)
		b = appendEntry(b, op.e)
	case opMovePrefix, opSettle:
		b = appendPath(b, op.to)
	}
	return b
}

func appendPath(b []byte, p string) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendEntry(b []byte, e entry) []byte {
	b = append(b, byte(e.Method))
	b = binary.AppendUvarint(b, e.KeyID)
	return append(b, e.IV[:]...)
}

// decodeRecord decodes an op record, appending its ops to ops. Nothing is
// applied here: a record is all or nothing.
func decodeRecord(p []byte, ops []dictOp) (kind byte, _ []dictOp, err error) {
	if len(p) == 0 {
		return 0, ops, codecError("empty record")
	}
	kind = p[0]
	if kind != recSnapshot && kind != recUpdate {
		return kind, ops, codecErrorf("unknown record type %d", kind)
	}
	if len(p) == 1 {
		return kind, ops, codecError("record holds no op")
	}
	d := decoder{p: p[1:]}
	for len(d.p) > 0 && d.err == nil {
		at := len(p) - len(d.p)
		op := dictOp{kind: d.byte()}
		switch op.kind {
		case opPut:
			op.path = d.path()
			op.e = d.entry()
		case opDelete, opDeletePrefix, opExclude:
			op.path = d.path()
		case opEpoch:
			op.e = d.entry()
			n := d.uvarint()
			if d.err == nil && n > uint64(len(d.p)/2) {
				// Each path takes at least two bytes.
				d.fail(fmt.Sprintf("%d excluded paths cannot fit in the %d bytes left", n, len(d.p)))
			}
			for i := uint64(0); i < n && d.err == nil; i++ {
				op.names = append(op.names, d.path())
			}
		case opEpochEnd:
		case opMove:
			op.path = d.path()
			op.to = d.path()
			op.e = d.entry()
		case opMovePrefix, opSettle:
			op.path = d.path()
			op.to = d.path()
		default:
			return kind, ops, codecErrorf("unknown op type %d at byte %d of the record", op.kind, at)
		}
		if d.err != nil {
			return kind, ops, codecErrorf("op at byte %d of the record: %v", at, d.err)
		}
		ops = append(ops, op)
	}
	return kind, ops, nil
}

// validMethod reports whether m is a method this build knows.
func validMethod(m keys.Method) bool {
	return m == keys.MethodPlaintext || m.KeySize() > 0
}

// decoder reads fields from a record. After the first failure every read
// returns a zero value and err says what went wrong.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = codecError(msg)
	}
	d.p = nil
}

func (d *decoder) byte() byte {
	if len(d.p) < 1 {
		d.fail("truncated")
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) path() string {
	n := d.uvarint()
	switch {
	case d.err != nil:
		return ""
	case n == 0:
		d.fail("empty path")
		return ""
	case n > uint64(len(d.p)):
		d.fail(fmt.Sprintf("path length %d runs past the record's end (%d bytes left)", n, len(d.p)))
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	if err := checkPath(s); err != nil {
		d.fail(err.Error())
		return ""
	}
	return s
}

// checkOpPaths checks the paths of an op about to be written with
// checkPath, so the log never holds a record that an open refuses.
func checkOpPaths(op dictOp) error {
	check := func(p string) error {
		if p == "" {
			return nil // not every op has every path; decoding checks presence
		}
		if err := checkPath(p); err != nil {
			return fmt.Errorf("engine: file dictionary: refusing to record %w", err)
		}
		return nil
	}
	err := check(op.path)
	if err == nil {
		err = check(op.to)
	}
	for _, n := range op.names {
		if err == nil {
			err = check(n)
		}
	}
	return err
}

// checkPath reports why p cannot be a path of the dictionary, nil if it
// can. A log is data, not commands: a path must name a file the engine
// itself could have recorded, relative to the store directory, so that
// nothing an open or a re-encryption does with it reaches elsewhere. It
// must be canonical (path.Clean(p) == p: no "a//b", "./a", "a/", and no
// ".." after a name, as in "wal/../x"), not absolute, without NUL, and not
// "." or made of ".." alone. The only ".." allowed is the leading run of
// "../" that versions before directory identifiers wrote for a file
// outside the store directory ("../wal/000004.log"): read, so that such a
// store still opens, never written by the FS, and re-keyed when Pebble
// names the directory (extdir.go). The FS keys a file outside the store
// "TDE-EXT-<identifier>/<name>".
func checkPath(p string) error {
	switch {
	case strings.IndexByte(p, 0) >= 0:
		return codecErrorf("path %q contains a NUL byte", p)
	case path.IsAbs(p):
		return codecErrorf("path %q is absolute", p)
	case path.Clean(p) != p:
		return codecErrorf("path %q is not canonical (%q)", p, path.Clean(p))
	}
	rest := p
	for strings.HasPrefix(rest, "../") {
		rest = rest[len("../"):]
	}
	if rest == "." || rest == ".." {
		return codecErrorf("path %q names a directory of the store's, not a file", p)
	}
	return nil
}

func (d *decoder) entry() entry {
	var e entry
	e.Method = keys.Method(d.byte())
	if d.err == nil && !validMethod(e.Method) {
		d.fail(fmt.Sprintf("unknown encryption method %d", e.Method))
	}
	e.KeyID = d.uvarint()
	if len(d.p) < ivLen {
		d.fail("truncated IV")
		return entry{}
	}
	copy(e.IV[:], d.p)
	d.p = d.p[ivLen:]
	return e
}
