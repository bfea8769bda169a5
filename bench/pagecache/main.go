//go:build linux

// Command pagecache shows where a benchmark store's own speed came from:
// random 4 KiB reads of files whose pages were cached as the process
// wrote them, against the same files after their pages were dropped and
// read back by readahead (what tdebench's warm pass now does).
//
// It writes -files files of -size bytes in turn, 64 KiB at a time as
// Pebble writes a table, syncs them, then times rounds of random reads of
// every file, in a fresh random order per round. Each file's figure is
// the median over rounds of its time per read against the round's
// geometric mean, in percent. Printed twice per state, to tell a file's
// lasting speed from the rounds' noise:
//
//	go run ./bench/pagecache
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	files := flag.Int("files", 8, "files, written one after another")
	size := flag.Int("size", 32<<20, "bytes per file")
	rounds := flag.Int("rounds", 200, "rounds of reads; each reads every file once")
	reads := flag.Int("reads", 2000, "random 4 KiB reads of one file in a round")
	flag.Parse()
	dir, err := os.MkdirTemp("", "pagecache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fs, err := write(dir, *files, *size)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	fmt.Printf("random 4 KiB reads, each file against the round's mean, %% (median of %d rounds); files in the order written\n", *rounds)
	for _, state := range []string{"as written", "as written", "dropped, read back", "dropped, read back"} {
		if state == "dropped, read back" {
			if err := dropAndRead(fs, *size); err != nil {
				log.Fatal(err)
			}
		}
		offsets := measure(fs, *size, *rounds, *reads)
		fmt.Printf("%-20s sd %4.2f:", state, sd(offsets))
		for _, o := range offsets {
			fmt.Printf(" %+6.2f", o)
		}
		fmt.Println()
	}
}

// write writes n files of size bytes in dir, one after the other, and
// syncs each.
func write(dir string, n, size int) ([]*os.File, error) {
	chunk := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range chunk {
		chunk[i] = byte(r.Uint32())
	}
	var fs []*os.File
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
		for off := 0; off < size; off += len(chunk) {
			if _, err := f.Write(chunk); err != nil {
				return fs, err
			}
		}
		if err := f.Sync(); err != nil {
			return fs, err
		}
	}
	return fs, nil
}

// dropAndRead drops every file's cached pages, then reads each back
// whole, as tdebench's warm pass does.
func dropAndRead(fs []*os.File, size int) error {
	buf := make([]byte, 1<<20)
	for _, f := range fs {
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return err
		}
		for off := int64(0); off < int64(size); off += int64(len(buf)) {
			if _, err := f.ReadAt(buf, off); err != nil {
				return err
			}
		}
	}
	return nil
}

// measure returns each file's median, over rounds, of its time per read
// against the round's geometric mean, in percent, centred on 0.
func measure(fs []*os.File, size, rounds, reads int) []float64 {
	r := rand.New(rand.NewPCG(2, 2))
	p := make([]byte, 4096)
	logs := make([][]float64, len(fs)) // per file, per round
	for range rounds {
		for _, i := range r.Perm(len(fs)) {
			start := time.Now()
			for range reads {
				if _, err := fs[i].ReadAt(p, int64(r.IntN(size/len(p))*len(p))); err != nil {
					log.Fatal(err) // a failed read would time as a fast one
				}
			}
			logs[i] = append(logs[i], math.Log(float64(time.Since(start))))
		}
	}
	offsets := make([]float64, len(fs))
	for i := range fs {
		rel := make([]float64, rounds)
		for k := range rounds {
			mean := 0.0
			for j := range fs {
				mean += logs[j][k] / float64(len(fs))
			}
			rel[k] = logs[i][k] - mean
		}
		slices.Sort(rel)
		offsets[i] = 100 * rel[rounds/2]
	}
	c := 0.0
	for _, o := range offsets {
		c += o / float64(len(offsets))
	}
	for i := range offsets {
		offsets[i] -= c
	}
	return offsets
}

func sd(xs []float64) float64 {
	v := 0.0
	for _, x := range xs {
		v += x * x / float64(len(xs)-1) // xs are centred
	}
	return math.Sqrt(v)
}
