package ctrtest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Encodings of the generated amd64 assembly. A kernel for AVX2 CPUs must
// use only VEX encodings: if avo hands it a register above 15, or an
// instruction has only an EVEX form, the Go assembler silently encodes
// EVEX and the kernel dies with an illegal instruction on exactly the CPUs
// it is for, which no test on an AVX-512 machine notices. A kernel for
// AES-NI CPUs without AVX must use no VEX at all.
var (
	highReg  = regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b`)
	evexOnly = regexp.MustCompile(`^(VPTERNLOG|VMOVDQ[AU](8|16|32|64)|VP(XOR|AND|OR|ANDN)[DQ]|VPRO[LR]|VPERM[IT]2|VBROADCAST[IF](32|64)X|VSHUF[IF](32|64)X|VALIGN|VPCOMPRESS|VPEXPAND|KMOV|VEXTRACT[IF](32|64)X|VINSERT[IF](32|64)X)`)
)

// Violations lists the instructions of function fn in the assembly file
// that need more than the encoding allows: "vex" (AVX2 CPUs) or "legacy"
// (SSE only). It fails the test if fn is not in the file.
func Violations(t *testing.T, file, fn, encoding string) []string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "TEXT ·"+fn+"(SB)")
	if start < 0 {
		t.Fatalf("%s: no function %s", file, fn)
	}
	body := string(src[start:])
	if end := strings.Index(body[1:], "\nTEXT "); end >= 0 {
		body = body[:end+1]
	}
	var bad []string
	for _, line := range strings.Split(body, "\n")[1:] {
		ins := strings.TrimSpace(line)
		if ins == "" || strings.HasSuffix(ins, ":") || strings.HasPrefix(ins, "//") {
			continue
		}
		mnemonic := strings.Fields(ins)[0]
		switch {
		case highReg.MatchString(ins), evexOnly.MatchString(mnemonic):
			bad = append(bad, ins)
		case encoding == "legacy" && strings.HasPrefix(mnemonic, "V"):
			bad = append(bad, ins)
		}
	}
	return bad
}
