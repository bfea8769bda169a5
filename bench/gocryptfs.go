//go:build linux

package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// gocryptfs is what users would run instead of tde: Pebble, unencrypted,
// on a gocryptfs FUSE mount (AES-256-GCM on file contents, encrypted file
// names). The benchmark mounts one for the run and prices it against
// plaintext like any tde method.

// gocryptfsMount is a mounted gocryptfs file system: the encrypted
// directory, the mount point the stores go in, and the temporary
// directory that holds both and the password file.
type gocryptfsMount struct {
	dir     string // holds cipher/, plain/ and pass
	plain   string // the mount point
	version string
	cmd     *exec.Cmd     // gocryptfs, in the foreground: its CPU is the method's too
	exited  chan struct{} // closed when cmd has exited
	out     bytes.Buffer  // what it printed
}

// mountGocryptfs makes a gocryptfs file system under the benchmark's
// directory, with a random password in a file only root can read, and
// mounts it. What it cannot do is an error saying why, for the one line
// that says gocryptfs was skipped.
func (b *bench) mountGocryptfs() error {
	if b.c.MemFS {
		return errors.New("the stores are in memory (--memfs); gocryptfs needs a disk")
	}
	m, err := mountGocryptfs(b.root)
	if err != nil {
		return err
	}
	b.gcfs = m
	b.notef("gocryptfs: %s, default settings (AES-256-GCM contents, encrypted names), on a FUSE mount", m.version)
	return nil
}

func mountGocryptfs(root string) (_ *gocryptfsMount, err error) {
	bin, err := exec.LookPath("gocryptfs")
	if err != nil {
		return nil, errors.New("gocryptfs is not installed (Debian: apt-get install gocryptfs fuse3)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("no FUSE device: %v", err)
	}
	if _, err := fusermount(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(root, "gocryptfs-")
	if err != nil {
		return nil, err
	}
	m := &gocryptfsMount{dir: dir, plain: filepath.Join(dir, "plain")}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.RemoveAll(dir))
		}
	}()
	cipher, pass := filepath.Join(dir, "cipher"), filepath.Join(dir, "pass")
	for _, d := range []string{cipher, m.plain} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pass, []byte(hex.EncodeToString(pw[:])+"\n"), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "-version").Output(); err == nil {
		m.version = strings.TrimSpace(strings.SplitN(string(out), ";", 2)[0])
	}
	if err := runQuiet(ctx, bin, "-init", "-q", "-passfile", pass, cipher); err != nil {
		return nil, fmt.Errorf("gocryptfs -init: %w", err)
	}
	// In the foreground, as a child of this process: the benchmark reads
	// its CPU time, and it never outlives the run by accident. Its own
	// process group, so that a ^C reaches only tdebench, which then closes
	// the stores and unmounts in order.
	m.cmd = exec.Command(bin, "-fg", "-q", "-passfile", pass, cipher, m.plain)
	m.cmd.Stdout, m.cmd.Stderr = &m.out, &m.out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("gocryptfs: %w", err)
	}
	m.exited = make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	for checkMounted(m.plain) != nil {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("mount: gocryptfs exited: %s", strings.TrimSpace(m.out.String()))
		case <-ctx.Done():
			return nil, errors.Join(errors.New("mount: not mounted after a minute"), m.unmountOnly())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return m, nil
}

// cpu is the CPU time gocryptfs has used so far, from the scheduler's
// nanosecond account of each of its threads (/proc/PID/task/*/schedstat;
// /proc/PID/stat counts in 10 ms ticks, too coarse for a slice).
func (m *gocryptfsMount) cpu() time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", m.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread exited
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				sum += time.Duration(ns)
			}
		}
	}
	return sum
}

// unmount unmounts the file system and removes everything it held.
func (m *gocryptfsMount) unmount() error {
	if err := m.unmountOnly(); err != nil {
		// The files stay where an operator can see them, rather than
		// RemoveAll reaching into a mount.
		return fmt.Errorf("gocryptfs: %w (left at %s)", err, m.dir)
	}
	return os.RemoveAll(m.dir)
}

// unmountOnly unmounts the mount point, lazily if the file system is still
// busy (a store another error left open).
func (m *gocryptfsMount) unmountOnly() error {
	fm, err := fusermount()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = runQuiet(ctx, fm, "-u", m.plain)
	if err != nil {
		err = errors.Join(err, runQuiet(ctx, fm, "-u", "-z", m.plain))
		if checkMounted(m.plain) != nil {
			err = nil
		}
	}
	if m.cmd != nil {
		// Unmounted, gocryptfs exits by itself; if not, it is ended.
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	return err
}

// fusermount finds the FUSE unmount helper.
func fusermount() (string, error) {
	for _, n := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no fusermount3 or fusermount (Debian: apt-get install fuse3)")
}

// checkMounted reports an error unless dir is a mount point of a FUSE
// file system, from /proc/self/mountinfo.
func checkMounted(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) > 4 && f[4] == dir && strings.Contains(string(line), "fuse") {
			return nil
		}
	}
	return fmt.Errorf("%s is not a FUSE mount", dir)
}

// runQuiet runs a command and returns its output in the error if it fails.
func runQuiet(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, msg)
		}
		return fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return nil
}
