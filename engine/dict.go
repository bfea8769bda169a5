package engine

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
)

const (
	// dictMarkerName is the atomicfs marker naming the current log.
	dictMarkerName = "tde-dict"
	// dictLogPrefix starts every log's name; the marker's iteration follows.
	dictLogPrefix = "TDE-DICT-"
	// defaultRewriteThreshold is dictOptions.RewriteThreshold's default.
	defaultRewriteThreshold = 4096
	// snapshotRecordSize is about how many bytes of ops a rewrite packs into
	// one record.
	snapshotRecordSize = 32 << 10
)

// dictOptions configures a file dictionary.
type dictOptions struct {
	// RewriteThreshold: the log is rewritten when the records appended since
	// the last rewrite exceed max(RewriteThreshold, len): the log stays under
	// twice the live entries, which bounds the time to open it. 0 means 4096.
	RewriteThreshold int
	// OnWrite observes how long each synced append took; it may be nil. It
	// runs after the append, outside the dictionary's locks.
	OnWrite func(time.Duration)
	// Logger reports torn tails dropped, entries collected, moves undone and
	// failed rewrites; nil means slog.Default().
	Logger *slog.Logger
	// Dirs counts directory syncs, so a deferred removal whose directory
	// someone else synced since needs no sync of its own; nil means the
	// dictionary's own count.
	Dirs *dirSyncs
}

// maxDeferred bounds the records waiting for the next synced append; past
// it, the op that queues one more writes them all at once.
const maxDeferred = 1024

// dictionary is the file dictionary: which key and IV each file of the
// store is encrypted with, kept in an append-only log that is synced before
// the file operation it describes takes effect, except for what an epoch
// implies (dict_epoch.go) and removals (removeLater): their records wait for the
// next synced append.
//
// Readers (get, keyInUse, len, each) take mu for reading only; writers are
// serialized by wmu, do their I/O holding wmu alone, and take mu only to
// apply a change that is already durable. So a reader never waits for the
// disk.
type dictionary struct {
	fs      vfs.FS
	dir     string
	opts    dictOptions
	existed bool // a log existed at read time

	mu      sync.RWMutex
	state   dictState // entries and keys under mu; pending under wmu
	header  dictHeader
	path    string // the current log's full path, once started
	logSize int64

	wmu         sync.Mutex
	marker      *atomicfs.Marker // nil while the directory does not exist
	logName     string           // the current log's name in dir
	file        vfs.File
	w           *record.Writer
	base        int64 // offset in file of w's first byte
	appended    int   // update records since the last rewrite
	resumeAt    int64 // where an existing, intact log's records end
	needRewrite bool  // replay dropped or changed something the log still says
	// settledDirs are the directories of moves reconcile took as done
	// (their source gone): start syncs them before writing, so that a
	// crash cannot undo a rename the log no longer records as pending.
	settledDirs []string
	// judged are the destinations of the moves reconcile took as done:
	// start records that, so the log stops saying they are pending before
	// anything can reuse their source's name (see claimable).
	judged []string
	// leftovers are the sources of renames a crash kept under both names
	// (reconcile): start removes them before it syncs settledDirs.
	leftovers []string
	started   bool
	closed    bool
	err       error // the first failed append: the log's tail is unknown
	buf       []byte
	queued    []queuedOp      // ops not yet in the log, in order
	removed   map[string]bool // paths of queued removals, under mu as well: get hides them
}

// queuedOp is a record that waits for the next synced append. A removal's
// file is gone, and its directory must be durable (ticket) before the record
// may be; it changes the map when written. A put or move of a file created
// in the epoch changed the map when queued: a crash before it is written
// leaves the file without an entry, and the open that follows gives it the
// implied one, which is the same.
type queuedOp struct {
	op      dictOp
	ticket  uint64
	removal bool
}

// created reports whether a dictionary log existed at read time.
func (d *dictionary) created() bool { return d.existed }

// strict reports the header's flag: every file of the store was written
// through tde.
func (d *dictionary) strict() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.header.strict
}
