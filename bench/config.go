package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tde-go/tde/engine"
)

// Workload names one of the benchmark's workloads.
type Workload string

// The workloads, in the order they run within a round.
const (
	// FillSeq writes Keys keys in ascending order into an empty store.
	FillSeq Workload = "fillseq"
	// FillRandom writes Keys distinct keys in random order into an empty
	// store.
	FillRandom Workload = "fillrandom"
	// Overwrite rewrites random existing keys of a loaded store for
	// Duration.
	Overwrite Workload = "overwrite"
	// ReadRandom reads random existing keys of a loaded store for
	// Duration, with a block cache much smaller than the data, so most
	// reads miss the cache and read (and decrypt) table blocks.
	ReadRandom Workload = "readrandom"
	// Scan seeks to a random key of a loaded store and reads the next
	// ScanLength entries, for Duration.
	Scan Workload = "scan"
	// Mixed reads (ReadPercent of operations) and overwrites random keys
	// of a loaded store for Duration.
	Mixed Workload = "mixed"
)

// Workloads lists every workload in run order.
func Workloads() []Workload {
	return []Workload{FillSeq, FillRandom, Overwrite, ReadRandom, Scan, Mixed}
}

// ParseWorkload reads a workload name.
func ParseWorkload(s string) (Workload, error) {
	w := Workload(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Workloads(), w) {
		return w, nil
	}
	return "", fmt.Errorf("unknown workload %q (want one of %s)", s, joinWorkloads(Workloads()))
}

// writes reports whether the workload writes, and so ends by flushing the
// memtable and waiting for compactions inside the measured interval.
func (w Workload) writes() bool { return w != ReadRandom && w != Scan }

// preloaded reports whether the workload runs on a store loaded with Keys
// keys beforehand (outside the measured interval).
func (w Workload) preloaded() bool { return w != FillSeq && w != FillRandom }

// Config says what to run. The zero value is not usable: start from
// Defaults or Short.
type Config struct {
	// Methods to run. Plaintext is the baseline and always runs: Run adds
	// it if missing.
	Methods []Method
	// Workloads to run, in this order within each round.
	Workloads []Workload
	// Rounds is how many slices every (workload, method) runs: each
	// round runs one slice of a workload per method, in a fresh random
	// order. The 95% confidence interval of a median needs 6; the gate's
	// U-test over 24 pairs needs 8 a side to see anything.
	Rounds int
	// WorkloadRounds overrides Rounds for the workloads it names: the
	// short preset spends its two minutes where the intervals are widest
	// for the time (reads are cheap slices; fills pay a fresh store each).
	WorkloadRounds map[Workload]int
	// Builds is how many times the preloaded stores are made afresh
	// within the run (0 means 1). Each build makes every method's store,
	// in an order rotated by one place per build (BuildOrders), and runs
	// an equal share of the rounds of every workload on preloaded stores.
	// A store ran a point or two faster or slower for as long as it
	// lived, depending on when it was made, mostly by how its tables'
	// pages came into the page cache, which store.warm now evens out
	// (bench/README.md, "Builds" and "Where a store's speed came from").
	// Within one build what is left of such an offset would be read as
	// the method's cost. Over builds it averages out, and the overhead's
	// interval is taken over the builds, so it holds that spread too.
	Builds int
	// Keys is the key count of the preloaded stores that overwrite,
	// readrandom, scan and mixed run on. Keys are 16 bytes. (A fill
	// writes a fresh store per slice: as many keys as plaintext writes in
	// about Duration.)
	Keys int
	// ValueSize is the value length in bytes. Values compress to about
	// half, as db_bench's do.
	ValueSize int
	// Duration is the length of a slice: every slice of a workload runs
	// the same number of operations, the number plaintext runs in about
	// Duration (calibrated at the start of each workload).
	Duration time.Duration
	// CacheSize is the room for blocks in Pebble's block cache, in bytes,
	// at the start of each workload: Pebble also charges its memtables to
	// the cache, and the cache is made larger by that much. It must be
	// much smaller (8 times at least) than Keys × (16 + ValueSize), so
	// reads reach the files.
	CacheSize int64
	// Concurrency is the number of goroutines issuing operations.
	Concurrency int
	// ScanLength is the number of entries one scan reads.
	ScanLength int
	// ReadPercent is the share of reads in the mixed workload.
	ReadPercent int
	// Dir is where the temporary stores go ("" is os.TempDir()). Run
	// makes its own directory inside and removes it.
	Dir string
	// MemFS puts every store in memory (vfs.NewMem) instead of on the
	// disk: no disk noise, and no gocryptfs (it is skipped).
	MemFS bool
	// Seed drives the method order and the keys; 0 means random (the
	// seed used is recorded in the report).
	Seed uint64
	// Delay is a testing aid: a busy wait added to every read and write
	// of every file of the named methods' stores, to show that the gate
	// catches a slower method.
	Delay map[Method]time.Duration
	// Progress, if set, is called after each run.
	Progress func(Progress)
	// Notes are what the caller changed and why, for the report's notes
	// (Settings.Notes) and Log.
	Notes []string
	// Log, if set, is told what the run leaves out and why (such as
	// "gocryptfs skipped: …"), and when a build starts making its
	// stores, one line at a time.
	Log func(string)
}

// Progress reports one finished run; a first call with Done 0 (and a zero
// Run) announces the total.
type Progress struct {
	Done, Total int
	Run         Run
}

// Defaults is the full benchmark behind published results: every method,
// gocryptfs included where it can mount, every workload, 200 ms slices, a
// 1 M-key store (~280 MB of user data) with an 8 MiB block cache. The
// README's table gets the rounds that bring its intervals to 2 points
// (bench/README.md): 300 of fillrandom, whose slices scatter most, 250 of
// readrandom and scan; 50 of the rest, whose slices cost the most with
// their flushes and compactions (overwrite 1.4 s, mixed 0.9 s, fillseq
// 0.8 s). 37m43 on two cores on 2026-12-05 (150 rounds of the three took
// 28m51), before builds. The preloaded stores are made 18 times, so that
// each of the six methods' stores is made in each position three times
// (a build costs about 45 s with its compactions and warm-up slices):
// with 12 builds it took 44m45 on 2026-12-05 before the warm pass and
// 51m43 with it, which reads every store's tables back from the disk,
// and left scans' intervals 1.9-2.3 points wide where the target is 2;
// a width falls as t(builds-1)/sqrt(builds), 22% from 12 builds to 18.
func Defaults() Config {
	return Config{
		Methods:        fipsMethods(AllMethods()),
		Workloads:      Workloads(),
		Rounds:         300,
		WorkloadRounds: map[Workload]int{ReadRandom: 250, Scan: 250, FillSeq: 50, Overwrite: 50, Mixed: 50},
		Builds:         18,
		Keys:           1_000_000,
		ValueSize:      256,
		Duration:       200 * time.Millisecond,
		CacheSize:      8 << 20,
		Concurrency:    1,
		ScanLength:     100,
		ReadPercent:    50,
	}
}

// fipsMethods is ms less sm4-ctr in Go's FIPS 140-3 mode, which refuses
// it (engine.FIPSError).
func fipsMethods(ms []Method) []Method {
	if engine.FIPSMode() == "" {
		return ms
	}
	return slices.DeleteFunc(ms, func(m Method) bool { return m == MethodSM4CTR })
}

// Short is the quick comparison behind `make bench` and the CI gate:
// plaintext and tde's methods (not gocryptfs), every workload, 100 ms
// slices, a 50,000-key store, in under two minutes on two cores. Rounds
// go where they narrow the intervals most for their time: 36 for
// readrandom and scan (a slice costs its 100 ms; 48 before the builds
// and their warm passes took their share of the two minutes: 121 s with
// 40), 18 for fillrandom (20 before, for the same reason), 8 to 10 for
// the rest (a fill's slice costs a fresh store, a flush and a compaction:
// 0.3-0.45 s). Five builds, one per method: every store is made in every
// position once (about 3 s a build, warm-up slices included).
func Short() Config {
	c := Defaults()
	c.Methods = fipsMethods(Methods())
	c.Rounds = 18
	c.WorkloadRounds = map[Workload]int{ReadRandom: 36, Scan: 36, FillSeq: 8, Overwrite: 10, Mixed: 10}
	c.Builds = 5
	c.Keys = 50_000
	c.Duration = 100 * time.Millisecond
	c.CacheSize = 512 << 10
	return c
}

// RoundsOf is how many rounds workload w runs.
func (c Config) RoundsOf(w Workload) int {
	if n, ok := c.WorkloadRounds[w]; ok {
		return n
	}
	return c.Rounds
}

// normalized checks c and returns it with plaintext first among the
// methods, and methods and workloads deduplicated.
func (c Config) normalized() (Config, error) {
	var errs []string
	ms := []Method{MethodPlaintext}
	for _, m := range c.Methods {
		if !slices.Contains(AllMethods(), m) {
			errs = append(errs, fmt.Sprintf("unknown method %d", m))
		} else if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	c.Methods = ms
	var ws []Workload
	for _, w := range c.Workloads {
		if _, err := ParseWorkload(string(w)); err != nil {
			errs = append(errs, err.Error())
		} else if !slices.Contains(ws, w) {
			ws = append(ws, w)
		}
	}
	c.Workloads = ws
	if len(ws) == 0 {
		errs = append(errs, "no workload to run")
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Sprintf("rounds is %d, want at least 1", c.Rounds))
	}
	for _, w := range Workloads() {
		if n, ok := c.WorkloadRounds[w]; ok && n < 1 {
			errs = append(errs, fmt.Sprintf("rounds of %s is %d, want at least 1", w, n))
		}
	}
	for w := range c.WorkloadRounds {
		if !slices.Contains(Workloads(), w) {
			errs = append(errs, fmt.Sprintf("rounds given for unknown workload %q", w))
		}
	}
	if c.Builds < 0 {
		errs = append(errs, fmt.Sprintf("builds is %d, want at least 1", c.Builds))
	}
	for _, w := range ws {
		if n := c.RoundsOf(w); w.preloaded() && c.Builds > 1 && n < minBuildRounds*c.Builds {
			errs = append(errs, fmt.Sprintf("%s runs %d rounds over %d builds: want at least %d a build (or fewer builds)", w, n, c.Builds, minBuildRounds))
		}
	}
	if c.Keys < 1 {
		errs = append(errs, fmt.Sprintf("keys is %d, want at least 1", c.Keys))
	}
	if c.ValueSize < 1 {
		errs = append(errs, fmt.Sprintf("value size is %d, want at least 1", c.ValueSize))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Sprintf("duration is %v, want more than 0", c.Duration))
	}
	if c.CacheSize < 1 {
		errs = append(errs, fmt.Sprintf("cache size is %d, want at least 1 byte", c.CacheSize))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Sprintf("concurrency is %d, want at least 1", c.Concurrency))
	}
	if c.ScanLength < 1 {
		errs = append(errs, fmt.Sprintf("scan length is %d, want at least 1", c.ScanLength))
	}
	if c.ReadPercent < 0 || c.ReadPercent > 100 {
		errs = append(errs, fmt.Sprintf("read percent is %d, want 0 to 100", c.ReadPercent))
	}
	if c.DataBytes() < 8*c.CacheSize {
		errs = append(errs, fmt.Sprintf("the block cache (%s) is not much smaller than the data (%d keys × %d B = %s): reads would come from the cache, not the files; lower the cache size or raise the key count",
			FormatSize(c.CacheSize), c.Keys, keySize+c.ValueSize, FormatSize(c.DataBytes())))
	}
	for m, d := range c.Delay {
		if d < 0 {
			errs = append(errs, fmt.Sprintf("delay for %v is negative", m))
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("bench: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// DataBytes is the user data a loaded store holds: Keys × (key + value).
func (c Config) DataBytes() int64 { return int64(c.Keys) * int64(keySize+c.ValueSize) }

// Settings is the part of a Config that describes a run, as recorded in
// every result file.
type Settings struct {
	Methods     []string      `json:"methods"`
	Workloads   []string      `json:"workloads"`
	Rounds      int           `json:"rounds"`
	Builds      int           `json:"builds,omitempty"`
	Keys        int           `json:"keys"`
	ValueSize   int           `json:"value_size"`
	Duration    time.Duration `json:"duration_ns"`
	CacheSize   int64         `json:"cache_size"`
	Concurrency int           `json:"concurrency"`
	ScanLength  int           `json:"scan_length"`
	ReadPercent int           `json:"read_percent"`
	Seed        uint64        `json:"seed"`
	Delay       string        `json:"delay,omitempty"`
	// FS is where the stores were: "disk" or "mem".
	FS string `json:"fs,omitempty"`
	// WorkloadRounds are the workloads that ran other than Rounds rounds.
	WorkloadRounds map[Workload]int `json:"workload_rounds,omitempty"`
	// SliceOps is each workload's operations per slice, as calibrated.
	SliceOps map[Workload]int `json:"slice_ops,omitempty"`
	// Notes are what the run left out and why.
	Notes []string `json:"notes,omitempty"`
}

func (c Config) settings() Settings {
	s := Settings{
		Rounds: c.Rounds, Builds: c.builds(), Keys: c.Keys, ValueSize: c.ValueSize, Duration: c.Duration,
		CacheSize: c.CacheSize, Concurrency: c.Concurrency, ScanLength: c.ScanLength,
		ReadPercent: c.ReadPercent, Seed: c.Seed, FS: "disk",
	}
	if c.MemFS {
		s.FS = "mem"
	}
	for _, m := range c.Methods {
		s.Methods = append(s.Methods, m.String())
	}
	for _, w := range c.Workloads {
		s.Workloads = append(s.Workloads, string(w))
		if n := c.RoundsOf(w); n != c.Rounds {
			if s.WorkloadRounds == nil {
				s.WorkloadRounds = map[Workload]int{}
			}
			s.WorkloadRounds[w] = n
		}
	}
	var d []string
	for _, m := range AllMethods() {
		if c.Delay[m] > 0 {
			d = append(d, fmt.Sprintf("%v=%v", m, c.Delay[m]))
		}
	}
	s.Delay = strings.Join(d, ",")
	return s
}

// config lists the settings as benchfmt file configuration, in a fixed
// order.
func (s Settings) config() [][2]string {
	kv := [][2]string{
		{"methods", strings.Join(s.Methods, ",")},
		{"workloads", strings.Join(s.Workloads, ",")},
		{"rounds", fmt.Sprint(s.Rounds)},
		{"builds", fmt.Sprint(max(1, s.Builds))},
		{"keys", fmt.Sprint(s.Keys)},
		{"value-size", fmt.Sprint(s.ValueSize)},
		{"duration", s.Duration.String()},
		{"cache-size", FormatSize(s.CacheSize)},
		{"concurrency", fmt.Sprint(s.Concurrency)},
		{"scan-length", fmt.Sprint(s.ScanLength)},
		{"read-percent", fmt.Sprint(s.ReadPercent)},
		{"seed", fmt.Sprint(s.Seed)},
		{"fs", s.FS},
	}
	if r := s.workloadRounds(); r != "" {
		kv = append(kv, [2]string{"workload-rounds", r})
	}
	var ops []string
	for _, w := range Workloads() {
		if n, ok := s.SliceOps[w]; ok {
			ops = append(ops, fmt.Sprintf("%s=%d", w, n))
		}
	}
	if len(ops) > 0 {
		kv = append(kv, [2]string{"slice-ops", strings.Join(ops, ",")})
	}
	if s.Delay != "" {
		kv = append(kv, [2]string{"injected-delay", s.Delay})
	}
	return kv
}

func joinWorkloads(ws []Workload) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = string(w)
	}
	return strings.Join(s, ", ")
}

// FormatSize prints a byte count in the largest binary unit that divides
// it: 8MiB, 512KiB, 1000B.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s     string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.s)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// ParseSize reads a byte count: a number with an optional unit B, KiB,
// MiB, GiB (or K, M, G, KB, MB, GB, all binary).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 8MiB", s)
	}
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20, "G": 30, "GB": 30, "GIB": 30}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KiB, MiB or GiB)", s, t[i:])
	}
	if n > math.MaxInt64>>sh {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n << sh, nil
}

// Validate reports every problem with c that would stop Benchmark.
func (c Config) Validate() error {
	_, err := c.normalized()
	return err
}

// workloadRounds lists the workloads that ran other than Rounds rounds,
// as "readrandom=48,scan=48", in run order; "" if none.
func (s Settings) workloadRounds() string {
	var rs []string
	for _, w := range Workloads() {
		if n, ok := s.WorkloadRounds[w]; ok {
			rs = append(rs, fmt.Sprintf("%s=%d", w, n))
		}
	}
	return strings.Join(rs, ",")
}

// roundsText says how many rounds ran, for people: "20 rounds" or "20
// rounds (readrandom=48,scan=48)".
func (s Settings) roundsText() string {
	t := fmt.Sprintf("%d rounds", s.Rounds)
	if r := s.workloadRounds(); r != "" {
		t = fmt.Sprintf("%d rounds (%s)", s.Rounds, r)
	}
	return t
}

// roundsBuildsText is roundsText, then the builds where there were
// several: "250 rounds, 12 builds".
func (s Settings) roundsBuildsText() string {
	if s.Builds > 1 {
		return fmt.Sprintf("%s, %d builds", s.roundsText(), s.Builds)
	}
	return s.roundsText()
}
