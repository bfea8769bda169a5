package engine

import (
	"crypto/fips140"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tde-go/tde/ctr"
	"github.com/tde-go/tde/keys"
)

// FIPS 140-3 mode. When Go runs in FIPS 140-3 mode (crypto/fips140.Enabled:
// GODEBUG=fips140=on or only, or a binary built with GOFIPS140), every
// AES-CTR keystream is the standard library's (package ctr decides that, and
// Backend reports it), and SM4, which FIPS 140-3 does not approve, is
// refused: as a setting by Config.Validate, and in a store whose files use
// it by Open, before anything in the store changes. The format on disk is
// the same in both modes.

// ErrNotFIPSApproved: the process runs in Go's FIPS 140-3 mode and the
// configuration, or the store's files, use an algorithm FIPS 140-3 does not
// approve (sm4-ctr).
var ErrNotFIPSApproved = errors.New("engine: not approved in FIPS 140-3 mode")

// FIPSError reports a method FIPS 140-3 mode refuses: a setting (Setting
// and Value), or a store whose files use it (Dir and Files). It matches
// ErrNotFIPSApproved, and ErrInvalidConfig when it is a setting. It names
// what turned FIPS mode on (Mode).
type FIPSError struct {
	Setting string      // as the user spelled it: "data-encryption-method", "Method"
	Value   string      // the refused value ("sm4-ctr")
	Dir     string      // the store, when its files use the method
	Files   int         // files of Dir under the method (an epoch counts as one)
	Method  keys.Method // the refused method
	Mode    string      // what turned FIPS 140-3 mode on, e.g. "GODEBUG=fips140=on"
}

func (e *FIPSError) Error() string {
	why := fmt.Sprintf("%s is not a FIPS 140-3 approved algorithm, and this process runs in Go's FIPS 140-3 mode (%s)", e.Method, e.Mode)
	if e.Setting != "" {
		return fmt.Sprintf("engine: setting %s = %q: %s; use aes128-ctr, aes192-ctr or aes256-ctr", e.Setting, e.Value, why)
	}
	return fmt.Sprintf("engine: store %s: %d files are encrypted with %s: %s; re-encrypt the store to an AES method "+
		"(tdectl reencrypt, with data-encryption-method set to aes256-ctr) in a process without FIPS mode first", e.Dir, e.Files, e.Method, why)
}

func (e *FIPSError) Unwrap() []error {
	if e.Setting != "" {
		return []error{ErrNotFIPSApproved, ErrInvalidConfig}
	}
	return []error{ErrNotFIPSApproved}
}

// fipsSetting refuses, in FIPS 140-3 mode, a method setting that is not
// approved: the errors Config.Validate adds.
func (c Config) fipsSetting() []error {
	if !fips140.Enabled() || c.Method != keys.MethodSM4CTR {
		return nil
	}
	return []error{&FIPSError{Setting: c.setting("Method"), Value: c.Method.String(), Method: c.Method, Mode: FIPSMode()}}
}

// refuseUnapproved refuses, in FIPS 140-3 mode, a store whose dictionary
// gives files a method that is not approved. Open and openReadOnly call it
// once the dictionary is read and before anything is written.
func (f *FS) refuseUnapproved() error {
	if !fips140.Enabled() {
		return nil
	}
	d := f.dict
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for _, e := range d.state.entries {
		if e.Method == keys.MethodSM4CTR {
			n++
		}
	}
	if ep := d.state.epoch; ep != nil && ep.e.Method == keys.MethodSM4CTR {
		n++ // files an interrupted epoch may have created, and will get
	}
	if n == 0 {
		return nil
	}
	return &FIPSError{Dir: f.dir, Files: n, Method: keys.MethodSM4CTR, Mode: FIPSMode()}
}

// Backend names what computes the AES-CTR keystreams of this process: tde's
// kernel for the CPU ("vaes-zmm", "aesni", …), or "fips140", the standard
// library's validated module, in FIPS 140-3 mode (ctr.Backend).
func Backend() string { return ctr.Backend() }

// FIPSMode says what turned Go's FIPS 140-3 mode on, and the module
// version, or "" when it is off: "GODEBUG=fips140=on, module latest",
// "GOFIPS140=v1.0.0 at build, module v1.0.0".
func FIPSMode() string {
	if !fips140.Enabled() {
		return ""
	}
	how := "on"
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "fips140="); ok {
			how = "GODEBUG=fips140=" + v // the last one counts, as in the runtime
		}
	}
	if how == "on" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "GOFIPS140":
					how = "GOFIPS140=" + s.Value + " at build"
				case "DefaultGODEBUG":
					if strings.Contains(s.Value, "fips140=") && how == "on" {
						how = "the build's default GODEBUG"
					}
				}
			}
		}
	}
	return how + ", module " + fips140.Version()
}

// setBackend fills in the Status fields about what encrypts.
func (s *Status) setBackend() {
	s.Backend = Backend()
	s.FIPS = FIPSMode()
}

// backendInfo is the metric naming the AES-CTR backend and FIPS 140-3 mode,
// an info gauge that is always 1.
func backendInfo() prometheus.Collector {
	fips := "off"
	if fips140.Enabled() {
		fips = "on"
		if fips140.Enforced() {
			fips = "only"
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "tde_cipher_backend_info",
		Help:        "What computes AES-CTR keystreams: backend is tde's kernel or fips140 (the standard library's validated module); fips140 is Go's FIPS 140-3 mode (off, on, only). Always 1.",
		ConstLabels: prometheus.Labels{"backend": Backend(), "fips140": fips},
	}, func() float64 { return 1 })
}
