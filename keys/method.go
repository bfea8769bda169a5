package keys

import (
	"fmt"
	"strconv"
	"strings"
)

// Method is a data encryption method. The numbers are TiKV's
// EncryptionMethod values and are stored in the registry: never renumber.
// The zero Method is not a method, so a forgotten setting is an error rather
// than silently unencrypted data.
type Method uint8

const (
	MethodPlaintext Method = 1 // no encryption
	MethodAES128CTR Method = 2
	MethodAES192CTR Method = 3
	MethodAES256CTR Method = 4
	MethodSM4CTR    Method = 5
)

var methodNames = [...]string{
	MethodPlaintext: "plaintext",
	MethodAES128CTR: "aes128-ctr",
	MethodAES192CTR: "aes192-ctr",
	MethodAES256CTR: "aes256-ctr",
	MethodSM4CTR:    "sm4-ctr",
}

var methodKeySizes = [...]int{
	MethodPlaintext: 0,
	MethodAES128CTR: 16,
	MethodAES192CTR: 24,
	MethodAES256CTR: 32,
	MethodSM4CTR:    16,
}

// Methods lists every method, plaintext first.
func Methods() []Method {
	return []Method{MethodPlaintext, MethodAES128CTR, MethodAES192CTR, MethodAES256CTR, MethodSM4CTR}
}

func (m Method) valid() bool { return m >= MethodPlaintext && m <= MethodSM4CTR }

// String returns the method's configuration name (TiKV's spelling), or
// Method(N) for a number that is not a method.
func (m Method) String() string {
	if !m.valid() {
		return "Method(" + strconv.Itoa(int(m)) + ")"
	}
	return methodNames[m]
}

// KeySize is the data-key length in bytes: 0 for plaintext, 16, 24 or 32
// for AES-128/192/256, 16 for SM4. It is 0 for a number that is not a
// method.
func (m Method) KeySize() int {
	if !m.valid() {
		return 0
	}
	return methodKeySizes[m]
}

// ParseMethod reads a method name as TiKV's data-encryption-method setting
// spells it ("plaintext", "aes128-ctr", "aes192-ctr", "aes256-ctr",
// "sm4-ctr"), in any case. Anything else is an error matching
// ErrUnknownMethod that quotes the value.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods() {
		if strings.EqualFold(s, methodNames[m]) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w %q (want plaintext, aes128-ctr, aes192-ctr, aes256-ctr or sm4-ctr)", ErrUnknownMethod, s)
}

// MarshalText writes the method's name, so a Method can sit in a TOML or
// JSON configuration.
func (m Method) MarshalText() ([]byte, error) {
	if !m.valid() {
		return nil, fmt.Errorf("%w %d", ErrUnknownMethod, uint8(m))
	}
	return []byte(methodNames[m]), nil
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
