// Package bench prices transparent data encryption: it runs Pebble
// workloads on plaintext storage and through the engine for every
// encryption method, side by side, and reports what encryption costs.
//
// No public benchmark of encryption-at-rest overhead exists for Pebble or
// RocksDB stores (cockroach#80946 and tikv#8053 are open; CockroachDB only
// estimates "5-10% CPU"). This package is that benchmark, and the
// regression gate CI runs on top of it.
//
// # Method
//
// The baseline, "plaintext", is Pebble on the bare disk (vfs.Default) with
// no engine at all, so an encrypted method's overhead includes everything
// tde adds: the kernels, the file wrapper, the key registry and the file
// dictionary records. tde's methods run Pebble with Options.FS set to an
// engine.FS over vfs.Default, under a random in-memory master key.
// "gocryptfs" is what users would pick instead: Pebble on the bare file
// system, as plaintext, in a directory on a gocryptfs FUSE mount
// (gocryptfs -init with a random password file, mounted in the foreground
// as a child of the benchmark, unmounted and removed on every way out,
// ^C included). Where it cannot mount (not installed, no /dev/fuse, the
// mount fails, MemFS), it is left out with one line saying why.
//
// The measurement is made of slices. Every method's store is open at
// once. Each workload runs Rounds rounds; a round is one slice per method,
// in an order shuffled afresh for every round, so the slices of one round
// are neighbours in time and a drift of the machine (a neighbour's burst,
// the page cache, heat) lands on whichever method runs then, never
// systematically on one. A slice is a fixed number of operations, the
// same for every method of the workload: what plaintext does in about
// Duration (100-250 ms), found before the workload's first round by pilot
// slices on plaintext, four times larger each time, until the operations
// of one take a fifth of Duration; every other method then runs the same
// pilots, unmeasured, so the stores stay alike, and one unmeasured slice
// per method warms them. Every method of a round runs the same keys and
// values (the seed depends on the round and workload only).
//
// Stores: overwrite, readrandom, scan and mixed run on one store per
// method, loaded once with Keys keys in large batches (unmeasured,
// flushed, compactions waited for) and reused by every slice and workload
// after it, in the order of Workloads. A fill slice writes a fresh store,
// opened and removed outside the measurement. Read-triggered compactions
// are off (their timing depends on sampling, so one would land in one
// method's slice and not another's).
//
// Background work stays in the slice that caused it. A slice that writes
// ends, inside the measurement, by flushing the memtable and waiting until
// Pebble has run no flush or compaction for two polls 250 µs apart; the
// slice ends when it was first seen idle. A fill's store has automatic
// compactions off and compacts what it wrote once, at the end of its
// slice: the same work for every method whatever the timing (with
// automatic compactions, timing decided which compactions ran in a slice,
// and CPU varied by ±10% between methods of one round). Reads start no
// background work. The Go heap is collected before every slice, outside
// it.
//
// Figures of a slice: its wall time, and the CPU time of the whole
// process over it (getrusage(RUSAGE_SELF), user plus system: per-thread
// RUSAGE_THREAD would miss Pebble's flush and compaction goroutines, which
// run on other threads). The process's CPU is the slice's: only one
// method works at a time, the other stores are idle (nothing of theirs
// runs: their background work finished inside their own slices), and
// garbage collection is forced between slices. For gocryptfs the CPU of
// the gocryptfs process over the slice is added (Run.Helper, from the
// scheduler's nanosecond account in /proc/PID/task/*/schedstat): its
// encryption runs there. The FUSE kernel work is charged to whichever
// process's thread does it, the benchmark's or gocryptfs's.
//
// Overheads pair neighbours: a method's slice against the plaintext slice
// of the same round, (plaintext ops/s ÷ method ops/s − 1) × 100, which
// with equal operations is the ratio of their wall times; CPU overhead is
// the same for CPU per byte. The per-round overheads are summarized by
// their Hodges-Lehmann center and its 95% confidence interval (Wilcoxon
// signed-rank, on the log of the ratios; overheadInterval), so a round
// that a neighbour spoiled moves the center by one rank, not by its size,
// and every round's value counts, not only its rank: for the same width
// it needs about two thirds of the rounds a median does. The figures
// themselves (ops/s, CPU s/GB, latencies) are medians over rounds.
//
// A store kept a speed of its own for as long as it lived: on this
// project's VM a point or two either way, and which place it was made in
// among the methods' stores shifted it systematically (bench/README.md,
// "Builds"). Most of it was how its tables' pages came into the page
// cache: pages cached as they were written read slower, so the warm pass
// drops them and reads them back (store.warm). What is left, about a
// point on scans, rounds on one set of stores cannot average away, so the
// workloads on preloaded stores run on several builds (Config.Builds),
// each making every store afresh in an order rotated by one place, and
// their overheads are the mean of the builds' Hodges-Lehmann centers with
// a Student t interval over the builds (buildInterval). Fills make a
// store per slice, in the round's shuffled order, so theirs is already
// noise of the round.
//
// MemFS (tdebench run --memfs) puts every store in memory (vfs.NewMem)
// instead: no disk, and no gocryptfs. Whether a figure came from the disk
// or from memory is in the settings (fs: disk or mem).
//
// Precision, on this project's 2-core VM with other engineers' test
// suites beside it: bench/README.md keeps the measured interval widths.
// The CPU overheads stay narrow under load (a neighbour takes CPU time,
// it does not add to ours); time overheads widen with the load, since a
// slice's wall time includes waiting for a CPU the neighbours hold.
//
// # Figures
//
// For every slice: operations per second, MB/s of user data (keys plus
// values written or read), user+system CPU seconds per GB of user data,
// and foreground latency percentiles p50, p99 and p99.9 from an HDR
// histogram. Overhead is the extra wall time per operation relative to
// plaintext, in percent: (plaintext ops/s ÷ method ops/s − 1) × 100. CPU
// overhead is the same for CPU seconds per GB.
//
// # Output
//
// WriteBenchfmt writes the Go benchmark format that benchstat reads as it
// is (one line per workload, method and round, that is per slice, and one
// overhead line per encrypted method and round); the Report is also JSON;
// WriteMarkdown and WriteChart render the table and an SVG bar chart; Publish writes all of
// them under results/<date>-<cpu>/ and indexes the run in
// results/README.md.
//
// # Gate
//
// Gate compares the per-round overheads of a run with a committed
// baseline's, per workload and method, and reports a regression when the
// overhead grew by more than a threshold (in percentage points of
// overhead) with statistical significance (one-sided Mann-Whitney U test,
// alpha 0.05 over all the pairs compared). Overheads, not absolute times,
// are compared because CI machines differ. make gate gates the time and
// the CPU overhead at 2 points; bench/README.md has how often it catches
// a slowdown of about 3% and how often it fails unchanged.
package bench
