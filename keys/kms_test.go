package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAccessKey = "AKIDTDETESTKEY"
	testSecretKey = "tde-test-secret-access-key"
	testRegion    = "us-west-2"
)

// fakeKMS is a KMS-compatible server on loopback that speaks the JSON 1.1
// protocol (X-Amz-Target: TrentService.*) and checks every request's SigV4
// signature against the test credentials. Its keys are AES-256-GCM keys; a
// ciphertext blob names the key that made it, as real KMS blobs do.
type fakeKMS struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	keys    map[string][]byte // key id or alias → key
	arns    map[string]string // key id or alias → ARN
	mode    string            // "", "throttle", "throttle-once", "500", "hang"
	calls   map[string]int    // operation → requests
	badSigs []string          // why a request's signature was refused
	issued  [][]byte          // every plaintext data key handed out
}

func newFakeKMS(t *testing.T, keyIDs ...string) *fakeKMS {
	f := &fakeKMS{t: t, keys: map[string][]byte{}, arns: map[string]string{}, calls: map[string]int{}}
	for _, id := range keyIDs {
		f.keys[id] = randKey(t, 32)
		f.arns[id] = "arn:aws:kms:" + testRegion + ":111122223333:key/" + strings.TrimPrefix(id, "alias/")
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKMS) setMode(m string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *fakeKMS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeKMS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "TrentService.")
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		kmsFail(w, 400, "UnknownOperationException", "not a KMS JSON 1.1 request: "+r.Method+" "+target)
		return
	}
	if why := verifySigV4(r, body); why != "" {
		f.mu.Lock()
		f.badSigs = append(f.badSigs, why)
		f.mu.Unlock()
		kmsFail(w, 400, "InvalidSignatureException", why)
		return
	}
	f.mu.Lock()
	f.calls[op]++
	mode := f.mode
	if mode == "throttle-once" {
		f.mode = ""
	}
	f.mu.Unlock()
	switch mode {
	case "throttle", "throttle-once":
		kmsFail(w, 400, "ThrottlingException", "Rate exceeded")
		return
	case "500":
		http.Error(w, "internal server error", 500)
		return
	case "hang":
		<-r.Context().Done()
		return
	}

	var in struct {
		KeyId             string
		KeySpec           string
		CiphertextBlob    []byte
		EncryptionContext map[string]string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		kmsFail(w, 400, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key, known := f.keys[in.KeyId]
	if in.KeyId != "" && !known {
		kmsFail(w, 400, "NotFoundException", "Key '"+in.KeyId+"' does not exist")
		return
	}
	aad := contextAAD(in.EncryptionContext)
	switch op {
	case "GenerateDataKey":
		if in.KeySpec != "AES_256" {
			kmsFail(w, 400, "ValidationException", "KeySpec "+in.KeySpec)
			return
		}
		pt := randKey(f.t, 32)
		f.issued = append(f.issued, pt)
		kmsOK(w, map[string]any{"CiphertextBlob": fakeSeal(in.KeyId, key, pt, aad), "Plaintext": pt, "KeyId": f.arns[in.KeyId]})
	case "Decrypt":
		owner, pt, err := f.open(in.CiphertextBlob, aad)
		switch {
		case errors.Is(err, errNoSuchKey):
			kmsFail(w, 400, "InvalidCiphertextException", "")
		case in.KeyId != "" && owner != in.KeyId:
			kmsFail(w, 400, "IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
		case err != nil:
			kmsFail(w, 400, "InvalidCiphertextException", "")
		default:
			kmsOK(w, map[string]any{"Plaintext": pt, "KeyId": f.arns[owner], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
		}
	default:
		kmsFail(w, 400, "UnknownOperationException", op)
	}
}

var errNoSuchKey = errors.New("no such key")

// A fake blob: key-id-len u8 | key id | nonce(12) | AES-256-GCM(plaintext).
func fakeSeal(id string, key, pt, aad []byte) []byte {
	g, _ := newGCM(key)
	b := append([]byte{byte(len(id))}, id...)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	b = append(b, nonce...)
	return g.Seal(b, nonce, pt, aad)
}

func (f *fakeKMS) open(blob, aad []byte) (string, []byte, error) {
	if len(blob) < 1 || len(blob) < 1+int(blob[0])+12+16 {
		return "", nil, errNoSuchKey
	}
	id := string(blob[1 : 1+blob[0]])
	key, ok := f.keys[id]
	if !ok {
		return "", nil, errNoSuchKey
	}
	g, _ := newGCM(key)
	rest := blob[1+len(id):]
	pt, err := g.Open(nil, rest[:12], rest[12:], aad)
	return id, pt, err
}

func contextAAD(c map[string]string) []byte {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q;", k, c[k])
	}
	return b.Bytes()
}

func kmsOK(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(v)
}

func kmsFail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// verifySigV4 checks an AWS Signature Version 4 Authorization header
// against the test credentials, recomputing the signature from the request.
// It returns why the request is refused, or "".
func verifySigV4(r *http.Request, body []byte) string {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "not signed with AWS4-HMAC-SHA256: " + strconv.Quote(auth)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != testAccessKey || scope[2] != testRegion || scope[3] != "kms" || scope[4] != "aws4_request" {
		return "credential scope " + fields["Credential"]
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-date", "x-amz-target", "content-type"} {
		if !slices.Contains(signed, must) {
			return must + " is not signed"
		}
	}
	date := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(date, scope[1]) {
		return "X-Amz-Date " + date + " outside scope " + scope[1]
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	sum := sha256.Sum256(body)
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(sum[:]))
	creq := sha256.Sum256([]byte(canon.String()))
	sts := "AWS4-HMAC-SHA256\n" + date + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(creq[:])
	k := hmacSHA256([]byte("AWS4"+testSecretKey), scope[1])
	for _, s := range scope[2:] {
		k = hmacSHA256(k, s)
	}
	if want := hex.EncodeToString(hmacSHA256(k, sts)); !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "signature mismatch"
	}
	return ""
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// kmsEnv points the SDK's credential chain at static test credentials in
// the environment, and away from every file and instance-metadata lookup, so
// nothing leaves the machine.
func kmsEnv(t *testing.T, secret string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           testAccessKey,
		"AWS_SECRET_ACCESS_KEY":       secret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_KMS":        "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
	} {
		t.Setenv(k, v)
	}
}

// newTestKMS returns a KMS master key on endpoint with quick retries.
func newTestKMS(t *testing.T, endpoint, keyID string) MasterKey {
	t.Helper()
	k, err := NewKMS(context.Background(), KMSConfig{
		KeyID: keyID, Region: testRegion, Endpoint: endpoint, AllowInsecureEndpoint: true, // httptest: loopback
		MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestKMS(t *testing.T) {
	kmsEnv(t, testSecretKey)
	ctx := context.Background()
	f := newFakeKMS(t, "alias/tde", "alias/other")
	dir, c := t.TempDir(), newClock()

	r := mustOpen(t, OSFS{}, dir, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES256CTR, c))
	if f.count("GenerateDataKey") != 1 {
		t.Fatalf("GenerateDataKey calls: %d", f.count("GenerateDataKey"))
	}
	// Rotation on an open registry needs no KMS call: the registry key is
	// cached.
	for range 3 {
		if err := r.RotateDataKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("GenerateDataKey") + f.count("Decrypt"); n != 1 {
		t.Errorf("KMS calls after rotations: %d, want 1", n)
	}
	want := keyBytes(r)
	r.Close()

	// A fresh master key (no cache) opens it with one Decrypt.
	r = mustOpen(t, OSFS{}, dir, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES256CTR, c))
	if f.count("Decrypt") != 1 {
		t.Errorf("Decrypt calls: %d", f.count("Decrypt"))
	}
	if got := keyBytes(r); len(got) != 4 || !mapsEqual(got, want) {
		t.Error("keys differ after reopen")
	}
	r.Close()
	if len(f.badSigs) != 0 {
		t.Errorf("requests with bad signatures: %v", f.badSigs)
	}
	// Reopening with the same master key uses its cached registry key.
	same := newTestKMS(t, f.srv.URL, "alias/tde")
	mustOpen(t, OSFS{}, dir, cfgWith(same, MethodAES256CTR, c)).Close()
	mustOpen(t, OSFS{}, dir, cfgWith(same, MethodAES256CTR, c)).Close()
	if n := f.count("Decrypt"); n != 2 {
		t.Errorf("Decrypt calls after two opens with one master key: %d, want 2 in all", n)
	}

	// Another KMS key: wrong key, and with the previous one given, a rewrap.
	other := newTestKMS(t, f.srv.URL, "alias/other")
	_, err := OpenRegistry(ctx, OSFS{}, dir, cfgWith(other, MethodAES256CTR, c))
	if !errors.Is(err, ErrWrongMasterKey) || !errors.Is(err, ErrMissingPreviousKey) {
		t.Fatalf("another KMS key: %v", err)
	}
	cfg := cfgWith(other, MethodAES256CTR, c)
	cfg.Previous = newTestKMS(t, f.srv.URL, "alias/tde")
	r = mustOpen(t, OSFS{}, dir, cfg)
	if len(r.Keys()) != 5 {
		t.Errorf("after rewrap: %v", r.Keys())
	}
	// Online, from KMS to a key file and back.
	fk := fileKey(t)
	if err := r.RotateMasterKey(ctx, fk); err != nil {
		t.Fatal(err)
	}
	if err := r.RotateMasterKey(ctx, newTestKMS(t, f.srv.URL, "alias/tde")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	mustOpen(t, OSFS{}, dir, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES256CTR, c))
}

func mapsEqual(a, b map[uint64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestKMSFailures: every KMS failure at open is a clear, typed error, and
// the directory is left as it was, whether creating a registry or opening
// one (cf. tikv#9488).
func TestKMSFailures(t *testing.T) {
	kmsEnv(t, testSecretKey)
	ctx := context.Background()
	f := newFakeKMS(t, "alias/tde")
	refused := refusedURL(t)

	existing := t.TempDir()
	c := newClock()
	r := mustOpen(t, OSFS{}, existing, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES128CTR, c))
	r.Close()
	c.Advance(10 * DefaultRotationPeriod) // an open that got through would write

	cases := []struct {
		name, mode, endpoint, keyID string
		want                        error
		says                        string
		calls                       int // requests the fake should see per open (MaxAttempts is 2)
	}{
		{"unknown key id", "", f.srv.URL, "alias/missing", ErrKMSKeyNotFound, "NotFoundException", 1},
		{"throttling", "throttle", f.srv.URL, "alias/tde", ErrKMSUnavailable, "ThrottlingException", 2},
		{"outage 500", "500", f.srv.URL, "alias/tde", ErrKMSUnavailable, "500", 2},
		{"connection refused", "", refused, "alias/tde", ErrKMSUnavailable, "connection refused", 0},
	}
	for _, tc := range cases {
		for _, dir := range []string{existing, ""} {
			what := tc.name + " (open)"
			if dir == "" {
				dir, what = t.TempDir(), tc.name+" (create)"
			}
			f.setMode(tc.mode)
			before := dirSnapshot(t, dir)
			callsBefore := f.count("Decrypt") + f.count("GenerateDataKey")
			_, err := OpenRegistry(ctx, OSFS{}, dir, cfgWith(newTestKMS(t, tc.endpoint, tc.keyID), MethodAES128CTR, c))
			f.setMode("")
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", what, err, tc.want)
				continue
			}
			var ke *KMSError
			if !errors.As(err, &ke) || ke.KeyID != tc.keyID || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.keyID) {
				t.Errorf("%s: %q does not name the key and the failure %q", what, err, tc.says)
			}
			if errors.Is(err, ErrCorruptRegistry) || errors.Is(err, ErrWrongMasterKey) {
				t.Errorf("%s: an outage reported as corruption or a wrong key: %v", what, err)
			}
			if n := f.count("Decrypt") + f.count("GenerateDataKey") - callsBefore; n != tc.calls {
				t.Errorf("%s: the KMS saw %d requests, want %d", what, n, tc.calls)
			}
			sameSnapshot(t, what, before, dirSnapshot(t, dir))
		}
	}

	// Throttled once, the SDK's retry gets through.
	f.setMode("throttle-once")
	before := f.count("Decrypt")
	r = mustOpen(t, OSFS{}, existing, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES128CTR, c))
	if n := f.count("Decrypt") - before; n != 2 {
		t.Errorf("throttled once: %d Decrypt requests, want 2", n)
	}
	r.Close()
	if len(f.badSigs) != 0 {
		t.Errorf("requests with bad signatures: %v", f.badSigs)
	}
}

// refusedURL is a loopback URL nothing listens on.
func refusedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestKMSTimeout: a KMS that accepts the connection and never answers makes
// the open fail after the configured timeout instead of hanging.
func TestKMSTimeout(t *testing.T) {
	kmsEnv(t, testSecretKey)
	f := newFakeKMS(t, "alias/tde")
	f.setMode("hang")
	k, err := NewKMS(context.Background(), KMSConfig{KeyID: "alias/tde", Region: testRegion, Endpoint: f.srv.URL, AllowInsecureEndpoint: true,
		MaxAttempts: 1, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	before := dirSnapshot(t, dir)
	start := time.Now()
	_, err = OpenRegistry(context.Background(), OSFS{}, dir, cfgWith(k, MethodAES128CTR, newClock()))
	if !errors.Is(err, ErrKMSUnavailable) {
		t.Errorf("hanging KMS: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	sameSnapshot(t, "hanging KMS", before, dirSnapshot(t, dir))
}

// TestKMSSignatureChecked: the fake really checks signatures: requests
// signed with another secret are refused, and the open fails.
func TestKMSSignatureChecked(t *testing.T) {
	kmsEnv(t, "not-the-secret")
	f := newFakeKMS(t, "alias/tde")
	_, err := OpenRegistry(context.Background(), OSFS{}, t.TempDir(), cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES128CTR, newClock()))
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("badly signed requests: %v", err)
	}
	if len(f.badSigs) == 0 || f.badSigs[0] != "signature mismatch" {
		t.Errorf("fake saw bad signatures %v", f.badSigs)
	}
}

// TestKMSTamperedBlob: a registry whose KMS ciphertext blob was altered (and
// its checksum fixed up) is corruption, not an outage or a wrong key.
func TestKMSTamperedBlob(t *testing.T) {
	kmsEnv(t, testSecretKey)
	f := newFakeKMS(t, "alias/tde")
	fsys, c := newMemFS(), newClock()
	mustOpen(t, fsys, "/db", cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodSM4CTR, c)).Close()
	b := []byte(fsys.snapshot()["/db/"+RegistryFile])
	_, aad, _, _ := decodeFile(b)
	b[len(aad)+4+2+1+len("alias/tde")+5] ^= 1 // inside the fake blob's nonce
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32c(b[:len(b)-4]))
	fsys.put("/db/"+RegistryFile, b)
	_, err := OpenRegistry(context.Background(), fsys, "/db", cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodSM4CTR, c))
	if !errors.Is(err, ErrCorruptRegistry) || errors.Is(err, ErrKMSUnavailable) {
		t.Errorf("tampered blob: %v", err)
	}
}

func TestNewKMSErrors(t *testing.T) {
	kmsEnv(t, testSecretKey)
	if _, err := NewKMS(context.Background(), KMSConfig{Region: testRegion}); err == nil {
		t.Error("no key id accepted")
	}
	if _, err := NewKMS(context.Background(), KMSConfig{KeyID: "alias/tde"}); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("no region: %v", err)
	}
}

// TestKMSRefusesPlainHTTP: an http:// endpoint, however spelled, is refused
// with ErrInsecureEndpoint naming it and the setting that would allow it;
// https, AWS's default endpoint, or the setting are accepted (NewKMS makes
// no call).
func TestKMSRefusesPlainHTTP(t *testing.T) {
	kmsEnv(t, testSecretKey)
	for _, ep := range []string{"http://127.0.0.1:4566", "HTTP://kms.example.com", " http://kms.example.com/"} {
		_, err := NewKMS(context.Background(), KMSConfig{KeyID: "alias/tde", Region: testRegion, Endpoint: ep})
		if !errors.Is(err, ErrInsecureEndpoint) || !strings.Contains(err.Error(), ep) || !strings.Contains(err.Error(), "AllowInsecureEndpoint") {
			t.Errorf("endpoint %q: %v, want ErrInsecureEndpoint naming it and AllowInsecureEndpoint", ep, err)
		}
		k, err := NewKMS(context.Background(), KMSConfig{KeyID: "alias/tde", Region: testRegion, Endpoint: ep, AllowInsecureEndpoint: true})
		if err != nil {
			t.Errorf("endpoint %q allowed: %v", ep, err)
		} else {
			k.Close()
		}
	}
	for _, ep := range []string{"", "https://kms.example.com"} {
		k, err := NewKMS(context.Background(), KMSConfig{KeyID: "alias/tde", Region: testRegion, Endpoint: ep})
		if err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
		} else {
			k.Close()
		}
	}
}
