package ctrmode

import "testing"

func TestAdd128(t *testing.T) {
	for _, c := range []struct{ hi, lo, x, wantHi, wantLo uint64 }{
		{0, 0, 1, 0, 1},
		{0, ^uint64(0), 1, 1, 0},
		{^uint64(0), ^uint64(0), 1, 0, 0}, // wraps at 2^128
		{5, ^uint64(0) - 2, 10, 6, 7},
	} {
		if hi, lo := Add128(c.hi, c.lo, c.x); hi != c.wantHi || lo != c.wantLo {
			t.Errorf("Add128(%#x, %#x, %d) = %#x, %#x; want %#x, %#x", c.hi, c.lo, c.x, hi, lo, c.wantHi, c.wantLo)
		}
	}
}

func TestBlocksUntilWrap(t *testing.T) {
	for _, c := range []struct{ lo, n, want uint64 }{
		{0, 100, 100},                                // a fresh low half never wraps within 2^64 blocks
		{^uint64(0), 100, 1},                         // the last value before the wrap
		{^uint64(0) - 9, 100, 10},                    // ten blocks to go
		{^uint64(0) - 9, 10, 10},                     // exactly up to the wrap
		{^uint64(0) - 9, 3, 3},                       // not reached
		{1 << 63, 1 << 62, 1 << 62},                  // far away
		{^uint64(0) - (1<<40 - 1), 1 << 41, 1 << 40}, // cut at 2^64
	} {
		if got := BlocksUntilWrap(c.lo, c.n); got != c.want {
			t.Errorf("BlocksUntilWrap(%#x, %d) = %d, want %d", c.lo, c.n, got, c.want)
		}
		if got, want := Wraps(c.lo, c.n), c.want < c.n; got != want {
			t.Errorf("Wraps(%#x, %d) = %v, want %v", c.lo, c.n, got, want)
		}
	}
}

func TestInexactOverlap(t *testing.T) {
	b := make([]byte, 64)
	for _, c := range []struct {
		x, y []byte
		want bool
	}{
		{b[0:10], b[0:10], false}, // exact: allowed in place
		{b[0:10], b[10:20], false},
		{b[0:10], b[9:20], true},
		{b[5:10], b[0:6], true},
		{b[0:0], b[0:10], false},
		{b[1:11], b[0:10], true},
	} {
		if got := InexactOverlap(c.x, c.y); got != c.want {
			t.Errorf("InexactOverlap(b[%d:], b[%d:]) = %v, want %v", cap(b)-cap(c.x), cap(b)-cap(c.y), got, c.want)
		}
	}
}
