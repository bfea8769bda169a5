package engine

import (
	"bytes"
	"crypto/fips140"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tde-go/tde/keys"
)

// runFIPSChild runs test of this binary again under GODEBUG=fips140=mode
// with env added, and fails unless it passes.
func runFIPSChild(t *testing.T, mode, test string, env ...string) {
	t.Helper()
	if puregoBuild {
		t.Skip("Go refuses FIPS 140-3 mode in a purego build")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), "GODEBUG=fips140="+mode), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+test)) {
		t.Fatalf("%s under GODEBUG=fips140=%s %s: %v\n%s", test, mode, strings.Join(env, " "), err, out)
	}
}

// TestFIPSMode: in Go's FIPS 140-3 mode the backend is the module's, and
// Status, the metrics and Backend say so; sm4-ctr is refused as a setting
// with a typed error naming it, by Validate, ParseConfig and Open, and Open
// then creates nothing. Outside FIPS mode it runs itself under fips140=on.
func TestFIPSMode(t *testing.T) {
	if !fips140.Enabled() {
		if Backend() == "fips140" || FIPSMode() != "" {
			t.Fatalf("outside FIPS mode: Backend %q, FIPSMode %q", Backend(), FIPSMode())
		}
		runFIPSChild(t, "on", "TestFIPSMode")
		return
	}
	if Backend() != "fips140" {
		t.Fatalf("Backend() = %q in FIPS 140-3 mode, want fips140", Backend())
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, keys.MethodAES256CTR)
	cfg.Metrics = reg
	f := mustOpen(t, vfs.NewMem(), "/s", cfg)
	st := f.Status()
	if st.Backend != "fips140" || !strings.Contains(st.FIPS, "fips140=") || !strings.Contains(st.FIPS, "module ") {
		t.Errorf("Status: Backend %q, FIPS %q; want fips140 and what turned the mode on", st.Backend, st.FIPS)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "tde_cipher_backend_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			found = labels["backend"] == "fips140" && labels["fips140"] != "off" && m.GetGauge().GetValue() == 1
		}
	}
	if !found {
		t.Error("no tde_cipher_backend_info{backend=\"fips140\"} 1 among the metrics")
	}
	mustClose(t, f)

	// The setting, as a Config and as TiKV's TOML.
	sm4 := testConfig(t, keys.MethodSM4CTR)
	checkRefused := func(what string, err error, setting string) {
		t.Helper()
		var fe *FIPSError
		if !errors.As(err, &fe) || !errors.Is(err, ErrNotFIPSApproved) || !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%s: %v, want a *FIPSError matching ErrNotFIPSApproved and ErrInvalidConfig", what, err)
		}
		if fe.Setting != setting || fe.Value != "sm4-ctr" || !strings.Contains(err.Error(), setting) || !strings.Contains(err.Error(), "fips140") {
			t.Errorf("%s: %+v: %q does not name the setting %s and FIPS mode", what, fe, err, setting)
		}
	}
	checkRefused("Validate", sm4.Validate(), "Method")
	_, err = ParseConfig([]byte("[security.encryption]\ndata-encryption-method = \"sm4-ctr\"\n"))
	checkRefused("ParseConfig", err, "security.encryption.data-encryption-method")
	base := vfs.NewMem()
	_, err = Open(base, "/new", sm4)
	checkRefused("Open", err, "Method")
	if _, err := base.Stat("/new"); err == nil {
		t.Error("a refused Open created the store directory")
	}
}

// TestFIPSStores: a store moves between a FIPS and a non-FIPS process and
// reads back (the bytes on disk are the same), no canary reaches the disk
// in FIPS mode, and a store whose files are SM4 is refused in FIPS mode,
// writable or read-only, with nothing in it changed. Each step is a child
// process (TestFIPSStep), so it runs the same in either mode.
func TestFIPSStores(t *testing.T) {
	if os.Getenv("TDE_FIPS_STEP") != "" {
		t.Skip("a step's process")
	}
	if testing.Short() && !fips140.Enabled() {
		t.Skip("runs Pebble in five processes; make test-fips runs it")
	}
	key := writeHexKey(t)
	aes, sm4 := filepath.Join(t.TempDir(), "aes"), filepath.Join(t.TempDir(), "sm4")
	step := func(mode, name, dir, method string) {
		t.Helper()
		runFIPSChild(t, mode, "TestFIPSStep", "TDE_FIPS_STEP="+name, "TDE_FIPS_DIR="+dir, "TDE_FIPS_KEY="+key, "TDE_FIPS_METHOD="+method)
	}
	step("off", "write 0 500", aes, "aes256-ctr")
	step("on", "read 0 500", aes, "aes256-ctr")
	step("on", "write 500 1000", aes, "aes256-ctr")
	step("off", "read 0 1000", aes, "aes256-ctr")
	raw := rawFiles(t, vfs.Default, aes)
	if hits := filesContaining(raw, []byte(canary)); len(hits) > 0 {
		t.Errorf("canary in the clear in %v", hits)
	}

	step("off", "write 0 300", sm4, "sm4-ctr")
	before := treeWithTimes(t, sm4)
	step("on", "refused", sm4, "aes256-ctr")
	if after := treeWithTimes(t, sm4); after != before {
		t.Errorf("a refused open changed the SM4 store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// treeWithTimes lists every file under dir with its size, mode, time and
// bytes: snapshot (lifecycle_test.go) and the times.
func treeWithTimes(t *testing.T, dir string) string {
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %v", p, fi.Size(), fi.Mode())
		if fi.Name() != lockFile {
			// Not TDE-LOCK's: the lock (Pebble's vfs.Default.Lock, an
			// os.Create) sets it at every writable Open before the store
			// is read; its bytes, none, are compared.
			fmt.Fprintf(&b, " %d", fi.ModTime().UnixNano())
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", data)
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestFIPSStep is one step of TestFIPSStores, in its own process:
// TDE_FIPS_STEP is "write FROM TO", "read FROM TO" or "refused".
func TestFIPSStep(t *testing.T) {
	stepEnv := os.Getenv("TDE_FIPS_STEP")
	if stepEnv == "" {
		t.Skip("run by TestFIPSStores")
	}
	dir := os.Getenv("TDE_FIPS_DIR")
	m, err := keys.ParseMethod(os.Getenv("TDE_FIPS_METHOD"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, m)
	cfg.MasterKey.Path = os.Getenv("TDE_FIPS_KEY")
	var op string
	var from, to int
	fmt.Sscan(stepEnv, &op, &from, &to)
	if op == "refused" {
		for _, ro := range []bool{false, true} {
			cfg.ReadOnly = ro
			_, err := Open(vfs.Default, dir, cfg)
			var fe *FIPSError
			if !errors.As(err, &fe) || !errors.Is(err, ErrNotFIPSApproved) || fe.Files == 0 || fe.Dir != dir ||
				!strings.Contains(err.Error(), "sm4-ctr") || !strings.Contains(err.Error(), "fips140") {
				t.Fatalf("Open (read-only %v) of an SM4 store in FIPS mode: %v, want a *FIPSError naming the store's SM4 files", ro, err)
			}
		}
		return
	}
	if want := fips140.Enabled(); (Backend() == "fips140") != want {
		t.Fatalf("Backend %q with FIPS mode %v", Backend(), want)
	}
	efs := mustOpen(t, vfs.Default, dir, cfg)
	defer mustClose(t, efs)
	db, err := pebble.Open(dir, pebbleOptions(efs))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := from; i < to; i++ {
		switch op {
		case "write":
			if err := db.Set(canaryKey(i), canaryValue(i), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
		case "read":
			v, closer, err := db.Get(canaryKey(i))
			if err != nil {
				t.Fatalf("get %d: %v", i, err)
			}
			if !bytes.Equal(v, canaryValue(i)) {
				t.Fatalf("key %d reads %q", i, v)
			}
			closer.Close()
		}
	}
	if op == "write" {
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}
