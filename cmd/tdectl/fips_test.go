package main

import (
	"bytes"
	"crypto/fips140"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestFIPS: in Go's FIPS 140-3 mode tdectl status names the module as the
// AES-CTR backend, and a configuration of sm4-ctr is refused with an error
// naming the setting and FIPS mode. Outside FIPS mode it runs itself under
// fips140=on, and checks that status says the mode is off.
func TestFIPS(t *testing.T) {
	s := newMixedStore(t)
	flags := []string{"--store", s.dir, "--config", s.config}
	if !fips140.Enabled() {
		if d := status(t, flags...); d.Backend == "" || d.Backend == "fips140" || d.FIPS140 != "" {
			t.Errorf("status outside FIPS mode: backend %q, fips140 %q", d.Backend, d.FIPS140)
		}
		if puregoBuild {
			t.Skip("Go refuses FIPS 140-3 mode in a purego build")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFIPS$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GODEBUG=fips140=on")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestFIPS")) {
			t.Fatalf("under GODEBUG=fips140=on: %v\n%s", err, out)
		}
		return
	}
	d := status(t, flags...)
	if d.Backend != "fips140" || !strings.Contains(d.FIPS140, "fips140=on") {
		t.Errorf("status --json in FIPS mode: backend %q, fips140 %q", d.Backend, d.FIPS140)
	}
	if text := mustTdectl(t, append([]string{"status"}, flags...)...); !strings.Contains(text, "fips140: Go's FIPS 140-3 mode") {
		t.Errorf("status does not name the FIPS backend:\n%s", text)
	}
	sm4 := writeConfig(t, "sm4-ctr", s.key)
	wantFail(t, 2, []string{"data-encryption-method", "sm4-ctr", "FIPS 140-3", "GODEBUG=fips140=on"}, "status", "--store", s.dir, "--config", sm4)
}
