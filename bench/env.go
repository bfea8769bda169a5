package bench

import (
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/tde-go/tde/ctr"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/sm4"
)

// Env is the machine and build a result was measured on. Every result file
// carries it: numbers without it cannot be compared or reproduced.
type Env struct {
	CPU        string `json:"cpu"`   // brand name from CPUID, "unknown" if none
	Cores      int    `json:"cores"` // logical cores
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`          // runtime.Version()
	Kernel     string `json:"kernel"`      // OS release, "" if unknown
	CTRBackend string `json:"ctr_backend"` // ctr.Backend(): the AES-CTR kernel
	SM4Backend string `json:"sm4_backend"` // sm4.Backend(): the SM4-CTR kernel
	// FIPS140 says what turned Go's FIPS 140-3 mode on (engine.FIPSMode),
	// "" when off; CTRBackend is then "fips140", the standard library's.
	FIPS140  string    `json:"fips140,omitempty"`
	Pebble   string    `json:"pebble"`   // module version, "" if unknown
	Revision string    `json:"revision"` // tde's VCS revision, "" if unknown
	Date     time.Time `json:"date"`
}

// CurrentEnv describes this machine and build, dated now.
func CurrentEnv() Env {
	e := Env{
		CPU:        strings.TrimSpace(cpuid.CPU.BrandName),
		Cores:      runtime.NumCPU(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         runtime.Version(),
		Kernel:     kernelRelease(),
		CTRBackend: ctr.Backend(),
		SM4Backend: sm4.Backend(),
		FIPS140:    engine.FIPSMode(),
		Date:       time.Now().UTC().Truncate(time.Second),
	}
	if e.CPU == "" {
		e.CPU = "unknown " + runtime.GOARCH
	}
	e.Pebble = moduleVersion("github.com/cockroachdb/pebble/v2")
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				e.Revision = s.Value
			}
		}
	}
	return e
}

// config lists the environment as benchfmt file configuration. goos,
// goarch, pkg and cpu are the keys `go test` writes, so benchstat shows
// them the same way.
func (e Env) config() [][2]string {
	kv := [][2]string{
		{"goos", e.GOOS},
		{"goarch", e.GOARCH},
		{"pkg", "github.com/tde-go/tde/bench"},
		{"cpu", e.CPU},
		{"cores", itoa(e.Cores)},
		{"gomaxprocs", itoa(e.GOMAXPROCS)},
		{"go", e.Go},
		{"kernel", e.Kernel},
		{"pebble", e.Pebble},
		{"tde-revision", e.Revision},
		{"tde-ctr-backend", e.CTRBackend},
		{"tde-sm4-backend", e.SM4Backend},
		{"tde-fips140", e.FIPS140},
		{"date", e.Date.Format(time.RFC3339)},
	}
	out := kv[:0]
	for _, p := range kv {
		if p[1] != "" {
			out = append(out, p)
		}
	}
	return out
}

// Slug names the machine in a results directory: "amd-epyc" for
// "AMD EPYC", lower case, runs of other characters as one dash.
func (e Env) Slug() string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(e.CPU) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		s = "unknown"
	}
	return s
}

// moduleVersion is the version of a dependency built into this binary, ""
// if unknown.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return ""
}
