// Package secmemtest lets tests see where key material lives: which
// mapping of /proc/self/smaps holds an address, and with which VmFlags
// ("dd": left out of core dumps, "lo": locked, "wf": wiped on fork).
package secmemtest

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tde-go/tde/internal/secmem"
)

// Mapping is one entry of /proc/self/smaps.
type Mapping struct {
	Start, End uintptr
	Flags      map[string]bool
}

// Find returns the mapping of /proc/self/smaps that holds p.
func Find(p unsafe.Pointer) (Mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return Mapping{}, err
	}
	defer f.Close()
	addr := uintptr(p)
	var cur *Mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if start, end, ok := parseRange(fields[0]); ok {
			cur = nil
			if addr >= start && addr < end {
				cur = &Mapping{Start: start, End: end, Flags: map[string]bool{}}
			}
			continue
		}
		if cur != nil && fields[0] == "VmFlags:" {
			for _, fl := range fields[1:] {
				cur.Flags[fl] = true
			}
			return *cur, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Mapping{}, err
	}
	return Mapping{}, fmt.Errorf("secmemtest: no mapping of /proc/self/smaps holds %#x", addr)
}

func parseRange(s string) (start, end uintptr, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 16, 64)
	y, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(x), uintptr(y), true
}

// Check returns an error describing what is wrong unless p lies in a
// mapping that is left out of core dumps and locked in memory. Locked is
// required where mlock cannot fail (CAP_IPC_LOCK, or an RLIMIT_MEMLOCK
// with room for the arena) and whenever secmem says its memory is locked.
// Under user-mode emulation (Emulated) the dd flag is not required.
func Check(what string, p unsafe.Pointer) error {
	locked := CanLock() || secmem.Status().Locked
	m, err := Find(p)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !m.Flags["dd"] && !Emulated() {
		return fmt.Errorf("%s at %#x: mapping %#x-%#x has no dd (MADV_DONTDUMP) in its VmFlags %v", what, uintptr(p), m.Start, m.End, keys(m.Flags))
	}
	if locked && !m.Flags["lo"] {
		return fmt.Errorf("%s at %#x: mapping %#x-%#x has no lo (mlock) in its VmFlags %v", what, uintptr(p), m.Start, m.End, keys(m.Flags))
	}
	return nil
}

func keys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// CanLock reports whether mlock of the whole arena cannot fail: the
// process has CAP_IPC_LOCK, or RLIMIT_MEMLOCK allows 256 KiB.
func CanLock() bool {
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &l) == nil && l.Cur >= 256<<10 {
		return true
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_IPC_LOCK) != 0
		}
	}
	return false
}

// Emulated reports whether the tests run under user-mode emulation, as
// make test-arm64 runs them under qemu-user (it sets TDE_EMULATED): qemu
// passes mmap and mlock to the kernel but not madvise, so the kernel never
// sees MADV_DONTDUMP and no mapping shows dd. The native runs check it.
func Emulated() bool { return os.Getenv("TDE_EMULATED") != "" }
