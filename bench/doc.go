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
// dictionary records. Encrypted methods run Pebble with Options.FS set to
// an engine.FS over vfs.Default, under a random in-memory master key.
//
// Runs are interleaved: in each of R rounds, every workload runs once per
// method, the methods in a fresh random order, each on a fresh store in a
// temporary directory. A method's overhead is computed against the
// plaintext run of the same workload in the same round, never across
// rounds, so machine drift (thermal, neighbours, page cache) hits all
// methods alike; the per-round overheads are then summarized with
// golang.org/x/perf/benchmath (median and 95% confidence interval).
//
// # Figures
//
// For every run: operations per second, MB/s of user data (keys plus
// values written or read), user+system CPU seconds per GB of user data
// (getrusage deltas over the whole process, so Pebble's background flushes
// and compactions count), and foreground latency percentiles p50, p99 and
// p99.9 from an HDR histogram. Overhead is the extra wall time per
// operation relative to plaintext, in percent: (plaintext ops/s ÷ method
// ops/s − 1) × 100. CPU overhead is the same for CPU seconds per GB.
//
// # Output
//
// WriteBenchfmt writes the Go benchmark format that benchstat reads as it
// is (one line per workload, method and round, and one overhead line per
// encrypted method and round); the Report is also JSON; WriteMarkdown and
// WriteChart render the table and an SVG bar chart; Publish writes all of
// them under results/<date>-<cpu>/ and indexes the run in
// results/README.md.
//
// # Gate
//
// Gate compares the per-round overheads of a run with a committed
// baseline's, per workload and method, and reports a regression when the
// overhead grew by more than a threshold (in percentage points of
// overhead) with statistical significance (Mann-Whitney U test at alpha
// 0.05). Overheads, not absolute times, are compared because CI machines
// differ.
package bench
