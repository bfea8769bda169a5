package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// A build is one making of the preloaded stores: every method's store,
// made, loaded with the keys and compacted, then read and rewritten by
// its share of the rounds. A store ran faster or slower by a point or two
// for as long as it lived, an offset of its own (bench/README.md,
// "Builds"); most of it came from the page cache and store.warm evens it
// out, and a run still makes its stores several times (Config.Builds)
// and takes the overheads' intervals over the builds (buildInterval), so
// that what is left (about a point on scans) is in the interval.

// minBuildRounds is the fewest rounds of a workload on preloaded stores
// that one build may run: a build's center needs more than one.
const minBuildRounds = 2

// builds is Builds, at least 1.
func (c Config) builds() int { return max(1, c.Builds) }

// buildRounds is the rounds of workload w that build b (from 0) runs,
// first to last: an equal share of RoundsOf(w), the earlier builds one
// fewer where it does not divide.
func (c Config) buildRounds(w Workload, b int) (first, last int) {
	n, nb := c.RoundsOf(w), c.builds()
	return b*n/nb + 1, (b + 1) * n / nb
}

// BuildOrders is the order in which each build makes the methods' stores.
// With several builds: one random order, rotated by one place per build,
// so that over as many builds as methods every method's store is made in
// every position once, and whatever being made earlier or later does to a
// store's speed lands on every method alike. With one build: the methods'
// own order, plaintext first, as before builds existed, so that the gate,
// whose power was measured that way, compares runs made alike.
func BuildOrders(c Config, r *rand.Rand) [][]Method {
	if c.builds() == 1 {
		return [][]Method{slices.Clone(c.Methods)}
	}
	base := slices.Clone(c.Methods)
	r.Shuffle(len(base), func(i, j int) { base[i], base[j] = base[j], base[i] })
	orders := make([][]Method, c.builds())
	for b := range orders {
		k := b % len(base)
		orders[b] = append(slices.Clone(base[k:]), base[:k]...)
	}
	return orders
}

// MaxBuilds is the most builds c's rounds allow: minBuildRounds a build
// of every workload on preloaded stores; 1 if none runs.
func (c Config) MaxBuilds() int {
	n := math.MaxInt
	for _, w := range c.Workloads {
		if w.preloaded() {
			n = min(n, c.RoundsOf(w)/minBuildRounds)
		}
	}
	if n == math.MaxInt {
		return 1
	}
	return max(1, n)
}

// joinMethods lists methods by name, comma-separated.
func joinMethods(ms []Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}
