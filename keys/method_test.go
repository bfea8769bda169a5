package keys

import (
	"errors"
	"strings"
	"testing"
)

func TestMethodNamesAndSizes(t *testing.T) {
	want := []struct {
		name string
		m    Method
		size int
	}{
		{"plaintext", MethodPlaintext, 0},
		{"aes128-ctr", MethodAES128CTR, 16},
		{"aes192-ctr", MethodAES192CTR, 24},
		{"aes256-ctr", MethodAES256CTR, 32},
		{"sm4-ctr", MethodSM4CTR, 16},
	}
	if len(Methods()) != len(want) {
		t.Fatalf("Methods() = %v, want %d methods", Methods(), len(want))
	}
	for i, w := range want {
		if Methods()[i] != w.m {
			t.Errorf("Methods()[%d] = %v, want %v", i, Methods()[i], w.m)
		}
		if got := w.m.String(); got != w.name {
			t.Errorf("%d.String() = %q, want %q", w.m, got, w.name)
		}
		if got := w.m.KeySize(); got != w.size {
			t.Errorf("%v.KeySize() = %d, want %d", w.m, got, w.size)
		}
		for _, s := range []string{w.name, strings.ToUpper(w.name)} {
			m, err := ParseMethod(s)
			if err != nil || m != w.m {
				t.Errorf("ParseMethod(%q) = %v, %v; want %v", s, m, err, w.m)
			}
		}
		b, err := w.m.MarshalText()
		if err != nil || string(b) != w.name {
			t.Errorf("%v.MarshalText() = %q, %v", w.m, b, err)
		}
		var m Method
		if err := m.UnmarshalText([]byte(w.name)); err != nil || m != w.m {
			t.Errorf("UnmarshalText(%q) = %v, %v", w.name, m, err)
		}
	}
	// The numbers are stored in the registry and are TiKV's.
	if MethodPlaintext != 1 || MethodAES128CTR != 2 || MethodAES192CTR != 3 || MethodAES256CTR != 4 || MethodSM4CTR != 5 {
		t.Error("method numbers changed; they are persisted")
	}
}

func TestUnknownMethod(t *testing.T) {
	for _, s := range []string{"", "aes512-ctr", "aes-128-ctr", "AES128", "sm4", "plaintext "} {
		m, err := ParseMethod(s)
		if !errors.Is(err, ErrUnknownMethod) {
			t.Errorf("ParseMethod(%q) = %v, %v; want ErrUnknownMethod", s, m, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("ParseMethod(%q): error %q does not quote the value", s, err)
		}
	}
	var m Method
	if err := m.UnmarshalText([]byte("des-cbc")); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("UnmarshalText(des-cbc) = %v", err)
	}
	for _, bad := range []Method{0, 6, 255} {
		if bad.String() == "" || bad.KeySize() != 0 {
			t.Errorf("Method(%d): String %q KeySize %d", bad, bad.String(), bad.KeySize())
		}
		if _, err := bad.MarshalText(); !errors.Is(err, ErrUnknownMethod) {
			t.Errorf("Method(%d).MarshalText() = %v", bad, err)
		}
	}
}
