package bench

import (
	"fmt"
	"strings"

	"github.com/tde-go/tde/keys"
)

// Method is what a benchmarked store runs on: plaintext (Pebble on the
// bare file system, the baseline), one of tde's encryption methods (Pebble
// on engine.FS), or gocryptfs (Pebble, unencrypted, on a gocryptfs FUSE
// mount: the encryption users would put below the store instead of tde).
// tde's methods have the numbers of keys.Method.
type Method uint8

// The methods.
const (
	MethodPlaintext        = Method(keys.MethodPlaintext)
	MethodAES128CTR        = Method(keys.MethodAES128CTR)
	MethodAES192CTR        = Method(keys.MethodAES192CTR)
	MethodAES256CTR        = Method(keys.MethodAES256CTR)
	MethodSM4CTR           = Method(keys.MethodSM4CTR)
	MethodGocryptfs Method = 64
)

// Methods lists plaintext and tde's methods, in keys.Methods' order.
func Methods() []Method {
	var ms []Method
	for _, m := range keys.Methods() {
		ms = append(ms, Method(m))
	}
	return ms
}

// AllMethods lists every method: Methods, then gocryptfs.
func AllMethods() []Method { return append(Methods(), MethodGocryptfs) }

// tde returns tde's method for m: the method engine.FS encrypts with
// (plaintext for the baseline and for gocryptfs, which run no engine).
func (m Method) tde() keys.Method {
	if m == MethodGocryptfs {
		return keys.MethodPlaintext
	}
	return keys.Method(m)
}

func (m Method) String() string {
	if m == MethodGocryptfs {
		return "gocryptfs"
	}
	return keys.Method(m).String()
}

// ParseMethod reads a method name: keys.ParseMethod's, or gocryptfs.
func ParseMethod(s string) (Method, error) {
	if strings.EqualFold(strings.TrimSpace(s), "gocryptfs") {
		return MethodGocryptfs, nil
	}
	m, err := keys.ParseMethod(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("unknown method %q (want plaintext, aes128-ctr, aes192-ctr, aes256-ctr, sm4-ctr or gocryptfs)", s)
	}
	return Method(m), nil
}

// MarshalText writes the method's name.
func (m Method) MarshalText() ([]byte, error) {
	if m != MethodGocryptfs {
		return keys.Method(m).MarshalText()
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses a method name as ParseMethod does.
func (m *Method) UnmarshalText(b []byte) error {
	v, err := ParseMethod(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
