package keys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoKeyMaterialInOutput formats every exported type, every error and
// every log line this package produces, in every verb, and searches the
// output for any 8-byte run of any key (data keys, master keys, the KMS
// registry key), raw, in hex, in decimal and as Go byte literals.
func TestNoKeyMaterialInOutput(t *testing.T) {
	kmsEnv(t, testSecretKey)
	ctx := context.Background()
	var logs logBuffer
	var secrets [][]byte
	var values []any
	verbs := []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T", "%10.3v"}
	var out strings.Builder
	var logged logBuffer
	loggers := []*slog.Logger{slog.New(slog.NewTextHandler(&logged, nil)), slog.New(slog.NewJSONHandler(&logged, nil))}
	// show prints v every way, at once: data keys are zeroed when their
	// registry closes, which would hide a leak printed later.
	show := func(v any) {
		values = append(values, v)
		for _, l := range loggers {
			l.Info("value", "v", v)
		}
		for _, verb := range verbs {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		fmt.Fprint(&out, v, "\n")
		if e, ok := v.(error); ok {
			out.WriteString(e.Error() + "\n")
			for u := errors.Unwrap(e); u != nil; u = errors.Unwrap(u) {
				out.WriteString(u.Error() + "\n")
			}
		}
		if j, err := json.Marshal(v); err == nil {
			out.Write(j)
		}
		if s, ok := v.(fmt.Stringer); ok {
			out.WriteString(s.String())
		}
	}
	var errs []error

	dir := t.TempDir()
	hexPath, hexKey := hexKeyFile(t, dir, "hex.key")
	rawBytes := randKey(t, 64)
	rawPath := filepath.Join(dir, "raw.key")
	os.WriteFile(rawPath, rawBytes, 0o600)
	secrets = append(secrets, hexKey, rawBytes[32:])

	fileMaster, err := LoadHexKeyFile(hexPath)
	if err != nil {
		t.Fatal(err)
	}
	rawMaster, err := LoadRawKeyFile(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeKMS(t, "alias/tde")
	kmsMaster := newTestKMS(t, f.srv.URL, "alias/tde")

	masters := []MasterKey{fileMaster, rawMaster, kmsMaster, Plaintext()}
	for i, m := range masters {
		store := filepath.Join(dir, "store"+strconv.Itoa(i))
		os.Mkdir(store, 0o700)
		cfg := RegistryConfig{Master: m, Method: MethodAES256CTR, Logger: logs.logger(), Now: newClock().Now}
		r, err := OpenRegistry(ctx, OSFS{}, store, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, meth := range Methods() {
			if err := r.SetMethod(ctx, meth); err != nil {
				t.Fatal(err)
			}
		}
		r.SetMethod(ctx, MethodSM4CTR)
		for _, ki := range r.Keys() {
			k, _ := r.Key(ki.ID)
			secrets = append(secrets, bytes.Clone(k.Key()))
			show(k)
			show(*k)
			show(ki)
			// Inside a caller's struct, in unexported fields, where fmt
			// cannot call our methods and walks the fields itself.
			type holder struct {
				k DataKey
				p *DataKey
				m MasterKey
			}
			show(holder{*k, k, m})
			show(&holder{*k, k, m})
		}
		for _, v := range []any{r, r.Keys(), r.Active(), m, cfg} {
			show(v)
		}
		// The errors a person would see with these keys around.
		_, err = OpenRegistry(ctx, OSFS{}, store, RegistryConfig{Master: fileKey(t), Method: MethodAES128CTR, Logger: logs.logger()})
		errs = append(errs, err)
		_, err = r.Key(1)
		errs = append(errs, err)
		r.Close()
		show(r) // closed
	}
	secrets = append(secrets, f.issued...) // the KMS registry keys
	if len(f.issued) == 0 {
		t.Fatal("the KMS issued no data key")
	}
	_, err = LoadHexKeyFile(rawPath) // a raw key given as a hex one
	errs = append(errs, err)
	_, err = ParseHexKey(rawBytes)
	errs = append(errs, err)
	_, err = ParseHexKey(append([]byte(hex.EncodeToString(hexKey)), 'x'))
	errs = append(errs, err)
	_, err = ParseHexKey([]byte(hex.EncodeToString(hexKey)[:40] + "\x80" + hex.EncodeToString(hexKey)[41:] + "\n"))
	errs = append(errs, err)
	_, err = ParseRawKey(append(rawBytes, 1))
	errs = append(errs, err)
	f.setMode("500")
	_, err = OpenRegistry(ctx, OSFS{}, filepath.Join(dir, "store2"), RegistryConfig{Master: newTestKMS(t, f.srv.URL, "alias/tde"), Method: MethodAES128CTR, Logger: logs.logger()})
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		show(err)
	}
	for _, v := range []any{KMSConfig{KeyID: "alias/tde"}, OSFS{}, MethodAES256CTR} {
		show(v)
	}

	out.WriteString(logs.String())
	out.WriteString(logged.String())
	if !strings.Contains(logs.String(), "MASTER KEY IS PLAINTEXT") {
		t.Error("the logs were not captured")
	}

	text := out.String()
	for i, s := range secrets {
		if len(s) < 16 {
			t.Fatalf("secret %d is %d bytes", i, len(s))
		}
		for _, form := range leakForms(s) {
			if strings.Contains(text, form) {
				at := strings.Index(text, form)
				t.Errorf("secret %d appears as %q in:\n%s", i, form, text[max(0, at-200):min(len(text), at+200)])
				break
			}
		}
	}
}

// leakForms lists how a key might show up: every 8-byte run, raw, in hex
// either case, as fmt prints a []byte in decimal and in %#v, and in base64;
// and the whole key as %q prints it.
func leakForms(s []byte) []string {
	q, qa := strconv.Quote(string(s)), strconv.QuoteToASCII(string(s))
	forms := []string{q[1 : len(q)-1], qa[1 : len(qa)-1]} // as %q and %+q print it
	for i := 0; i+8 <= len(s); i++ {
		w := s[i : i+8]
		forms = append(forms, string(w), hex.EncodeToString(w), strings.ToUpper(hex.EncodeToString(w)))
		dec := make([]string, len(w))
		lit := make([]string, len(w))
		for j, b := range w {
			dec[j] = strconv.Itoa(int(b))
			lit[j] = fmt.Sprintf("0x%x", b)
		}
		forms = append(forms, strings.Join(dec, " "), strings.Join(dec, ","), strings.Join(lit, ", "))
		if i%3 == 0 && i+9 <= len(s) {
			forms = append(forms, base64.StdEncoding.EncodeToString(s[i:i+9]))
		}
	}
	return forms
}

// TestLeakFormsFindLeaks: the search above finds a key printed the ways a
// careless type would print it.
func TestLeakFormsFindLeaks(t *testing.T) {
	key := randKey(t, 32)
	type careless struct{ Key []byte }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		text := fmt.Sprintf(verb, careless{key})
		found := false
		for _, form := range leakForms(key) {
			if strings.Contains(text, form) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: leak not found in %q", verb, text)
		}
	}
	j, _ := json.Marshal(careless{key})
	found := false
	for _, form := range leakForms(key) {
		found = found || strings.Contains(string(j), form)
	}
	if !found {
		t.Errorf("json leak not found in %s", j)
	}
}

// TestDestroyZeroes: Destroy zeroes the key in place and forgets it; Close
// of a master key does the same.
func TestDestroyZeroes(t *testing.T) {
	r := mustOpen(t, newMemFS(), "/db", cfgWith(fileKey(t), MethodAES256CTR, newClock()))
	k := r.Active()
	view := k.Key()
	if bytes.Equal(view, make([]byte, 32)) {
		t.Fatal("key is already zero")
	}
	k.Destroy()
	if !bytes.Equal(view, make([]byte, 32)) || k.Key() != nil {
		t.Error("Destroy did not zero the key")
	}
	k.Destroy() // idempotent
	_ = k.String()

	m := fileKey(t).(*localKey)
	b := m.key.bytes()
	m.Close()
	if !bytes.Equal(b, make([]byte, 32)) {
		t.Error("Close did not zero the master key")
	}
}
