package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tde-go/tde/internal/kmstest"
)

// The KMS tests run against local-kms, a real KMS-compatible server
// (internal/kmstest starts it). fakeKMS below is kept only for what
// local-kms cannot do: check SigV4 signatures, throttle, fail with HTTP
// 500, answer IncorrectKeyException (local-kms answers a Decrypt under
// another key with InvalidCiphertextException), and tell a test which
// plaintext data keys it issued (the hygiene test looks for them in
// output).

const (
	testAccessKey = kmstest.AccessKey
	testSecretKey = kmstest.SecretKey
	testRegion    = kmstest.Region
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
	return g.Seal(b, nil, pt, aad) // appends nonce | ciphertext | tag
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
	pt, err := g.Open(nil, nil, rest, aad)
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

// kmsEnv points the SDK's credential chain at the test credentials, with
// secret as the secret key, and away from every file and instance-metadata
// lookup.
func kmsEnv(t *testing.T, secret string) { kmstest.SetEnv(t, secret) }

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

// startKMS starts local-kms with the given aliases, each a key of its own,
// and a counting proxy in front of it. It returns the server, the proxy
// and the keys' ids by alias.
func startKMS(t *testing.T, aliases ...string) (*kmstest.Server, *kmstest.Counter, map[string]string) {
	t.Helper()
	srv := kmstest.Start(t)
	ids := map[string]string{}
	for _, a := range aliases {
		ids[a] = srv.CreateKey(a)
	}
	return srv, srv.NewCounter(), ids
}

// TestKMS: a registry under a local-kms key costs one GenerateDataKey to
// create and one Decrypt to open; rotations on an open registry cost
// nothing; another KMS key is a wrong master key (not a corrupt
// registry), and with the previous one named the registry moves to it in
// one Decrypt of the previous key and one GenerateDataKey of the new.
func TestKMS(t *testing.T) {
	kmsEnv(t, testSecretKey)
	ctx := context.Background()
	_, kms, _ := startKMS(t, "alias/tde", "alias/other")
	dir, c := t.TempDir(), newClock()

	r := mustOpen(t, OSFS{}, dir, cfgWith(newTestKMS(t, kms.URL, "alias/tde"), MethodAES256CTR, c))
	if n := kms.Count("GenerateDataKey"); n != 1 {
		t.Fatalf("GenerateDataKey calls: %d", n)
	}
	// Rotation on an open registry needs no KMS call: the registry key is
	// cached.
	for range 3 {
		if err := r.RotateDataKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := kms.Total(); n != 1 {
		t.Errorf("KMS calls after rotations: %d, want 1", n)
	}
	want := keyBytes(r)
	r.Close()

	// A fresh master key (no cache) opens it with one Decrypt.
	r = mustOpen(t, OSFS{}, dir, cfgWith(newTestKMS(t, kms.URL, "alias/tde"), MethodAES256CTR, c))
	if n := kms.Count("Decrypt"); n != 1 {
		t.Errorf("Decrypt calls: %d", n)
	}
	if got := keyBytes(r); len(got) != 4 || !mapsEqual(got, want) {
		t.Error("keys differ after reopen")
	}
	r.Close()
	// Reopening with the same master key uses its cached registry key.
	same := newTestKMS(t, kms.URL, "alias/tde")
	mustOpen(t, OSFS{}, dir, cfgWith(same, MethodAES256CTR, c)).Close()
	mustOpen(t, OSFS{}, dir, cfgWith(same, MethodAES256CTR, c)).Close()
	if n := kms.Count("Decrypt"); n != 2 {
		t.Errorf("Decrypt calls after two opens with one master key: %d, want 2 in all", n)
	}

	// Another KMS key: a wrong master key, naming the one it is under.
	before := dirSnapshot(t, dir)
	_, err := OpenRegistry(ctx, OSFS{}, dir, cfgWith(newTestKMS(t, kms.URL, "alias/other"), MethodAES256CTR, c))
	if !errors.Is(err, ErrWrongMasterKey) || !errors.Is(err, ErrMissingPreviousKey) || errors.Is(err, ErrCorruptRegistry) ||
		!strings.Contains(err.Error(), "kms alias/tde") {
		t.Fatalf("another KMS key: %v, want a wrong master key naming alias/tde", err)
	}
	sameSnapshot(t, "another KMS key", before, dirSnapshot(t, dir))

	// With the previous key named, a rewrap: the previous key is tried
	// first (the registry names it), so no call is wasted on the new one.
	decrypts, generates := kms.Count("Decrypt"), kms.Count("GenerateDataKey")
	cfg := cfgWith(newTestKMS(t, kms.URL, "alias/other"), MethodAES256CTR, c)
	cfg.Previous = newTestKMS(t, kms.URL, "alias/tde")
	r = mustOpen(t, OSFS{}, dir, cfg)
	if len(r.Keys()) != 5 {
		t.Errorf("after rewrap: %v", r.Keys())
	}
	if d, g := kms.Count("Decrypt")-decrypts, kms.Count("GenerateDataKey")-generates; d != 1 || g != 1 {
		t.Errorf("rewrap cost %d Decrypt and %d GenerateDataKey calls, want 1 and 1", d, g)
	}
	// Online, from KMS to a key file and back.
	fk := fileKey(t)
	if err := r.RotateMasterKey(ctx, fk); err != nil {
		t.Fatal(err)
	}
	if err := r.RotateMasterKey(ctx, newTestKMS(t, kms.URL, "alias/tde")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	mustOpen(t, OSFS{}, dir, cfgWith(newTestKMS(t, kms.URL, "alias/tde"), MethodAES256CTR, c))
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

// kmsFailure is a failed open to check: what must go wrong, and how the
// error must say it.
type kmsFailure struct {
	name     string
	endpoint string
	keyID    string
	want     error
	says     string // in the error, with the key id
}

// checkKMSFailure opens the registry in dir (an existing one, and a new
// one in an empty directory) with a KMS master key that fails as f says,
// and checks the error is typed, names the key and the failure, is not
// mistaken for corruption or a wrong key, and that nothing on disk
// changed (tikv#9488: nothing created at first start).
func checkKMSFailure(t *testing.T, existing string, c *clock, f kmsFailure) {
	t.Helper()
	for _, dir := range []string{existing, ""} {
		what := f.name + " (open)"
		if dir == "" {
			dir, what = t.TempDir(), f.name+" (create)"
		}
		before := dirSnapshot(t, dir)
		_, err := OpenRegistry(context.Background(), OSFS{}, dir, cfgWith(newTestKMS(t, f.endpoint, f.keyID), MethodAES128CTR, c))
		if !errors.Is(err, f.want) {
			t.Errorf("%s: %v, want %v", what, err, f.want)
			continue
		}
		var ke *KMSError
		if !errors.As(err, &ke) || ke.KeyID != f.keyID || !strings.Contains(err.Error(), f.says) || !strings.Contains(err.Error(), f.keyID) {
			t.Errorf("%s: %q does not name the key and the failure %q", what, err, f.says)
		}
		if errors.Is(err, ErrCorruptRegistry) || errors.Is(err, ErrWrongMasterKey) {
			t.Errorf("%s: an outage reported as corruption or a wrong key: %v", what, err)
		}
		sameSnapshot(t, what, before, dirSnapshot(t, dir))
	}
}

// TestKMSFailures: against local-kms, a key id it does not have, a key
// disabled with DisableKey, and the server down (killed; then restarted
// on the same port and data path, when the store opens again): each open
// or create fails with a clear, typed error and the directory is left as
// it was (cf. tikv#9488).
func TestKMSFailures(t *testing.T) {
	kmsEnv(t, testSecretKey)
	srv, kms, ids := startKMS(t, "alias/tde")
	existing, c := t.TempDir(), newClock()
	mustOpen(t, OSFS{}, existing, cfgWith(newTestKMS(t, kms.URL, "alias/tde"), MethodAES128CTR, c)).Close()
	c.Advance(10 * DefaultRotationPeriod) // an open that got through would write

	calls := kms.Total()
	checkKMSFailure(t, existing, c, kmsFailure{"unknown key id", kms.URL, "alias/missing", ErrKMSKeyNotFound, "NotFoundException"})
	srv.DisableKey(ids["alias/tde"])
	checkKMSFailure(t, existing, c, kmsFailure{"disabled key", kms.URL, "alias/tde", ErrKMSKeyNotFound, "DisabledException"})
	srv.EnableKey(ids["alias/tde"])
	// Two failed opens each (MaxAttempts is 2, and neither error is
	// retried): the disable and enable calls went to the server directly.
	if n := kms.Total() - calls; n != 4 {
		t.Errorf("the KMS saw %d calls from four failed opens, want 4", n)
	}
	srv.Stop()
	checkKMSFailure(t, existing, c, kmsFailure{"KMS down", srv.URL, "alias/tde", ErrKMSUnavailable, "connection refused"})
	srv.Restart()
	mustOpen(t, OSFS{}, existing, cfgWith(newTestKMS(t, srv.URL, "alias/tde"), MethodAES128CTR, c)).Close()
}

// TestKMSFakeFailures: what local-kms cannot do, on the fake: throttling
// and HTTP 500 are outages (retried, then ErrKMSUnavailable); AWS's
// IncorrectKeyException is a wrong master key; throttled once, the SDK's
// retry gets through.
func TestKMSFakeFailures(t *testing.T) {
	kmsEnv(t, testSecretKey)
	f := newFakeKMS(t, "alias/tde", "alias/other")
	existing, c := t.TempDir(), newClock()
	mustOpen(t, OSFS{}, existing, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES128CTR, c)).Close()
	c.Advance(10 * DefaultRotationPeriod)

	for _, tc := range []struct {
		mode string
		kmsFailure
	}{
		{"throttle", kmsFailure{"throttling", f.srv.URL, "alias/tde", ErrKMSUnavailable, "ThrottlingException"}},
		{"500", kmsFailure{"outage 500", f.srv.URL, "alias/tde", ErrKMSUnavailable, "500"}},
	} {
		f.setMode(tc.mode)
		calls := f.count("Decrypt") + f.count("GenerateDataKey")
		checkKMSFailure(t, existing, c, tc.kmsFailure)
		f.setMode("")
		if n := f.count("Decrypt") + f.count("GenerateDataKey") - calls; n != 4 {
			t.Errorf("%s: the KMS saw %d requests for an open and a create, want 2 each (MaxAttempts)", tc.name, n)
		}
	}

	before := dirSnapshot(t, existing)
	calls := f.count("Decrypt")
	_, err := OpenRegistry(context.Background(), OSFS{}, existing, cfgWith(newTestKMS(t, f.srv.URL, "alias/other"), MethodAES128CTR, c))
	if !errors.Is(err, ErrWrongMasterKey) || errors.Is(err, ErrCorruptRegistry) || f.count("Decrypt")-calls != 1 {
		t.Errorf("IncorrectKeyException: %v after %d Decrypt calls, want a wrong master key after 1", err, f.count("Decrypt")-calls)
	}
	sameSnapshot(t, "IncorrectKeyException", before, dirSnapshot(t, existing))

	f.setMode("throttle-once")
	calls = f.count("Decrypt")
	mustOpen(t, OSFS{}, existing, cfgWith(newTestKMS(t, f.srv.URL, "alias/tde"), MethodAES128CTR, c)).Close()
	if n := f.count("Decrypt") - calls; n != 2 {
		t.Errorf("throttled once: %d Decrypt requests, want 2", n)
	}
	if len(f.badSigs) != 0 {
		t.Errorf("requests with bad signatures: %v", f.badSigs)
	}
}

// TestKMSTimeout: a KMS that accepts the connection and never answers
// (local-kms stopped with SIGSTOP) makes the open fail after the
// configured timeout instead of hanging, with nothing written.
func TestKMSTimeout(t *testing.T) {
	kmsEnv(t, testSecretKey)
	srv, _, _ := startKMS(t, "alias/tde")
	srv.Pause()
	defer srv.Resume()
	k, err := NewKMS(context.Background(), KMSConfig{KeyID: "alias/tde", Region: testRegion, Endpoint: srv.URL, AllowInsecureEndpoint: true,
		MaxAttempts: 1, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
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
// its checksum fixed up) is corruption, not an outage or a wrong key:
// local-kms refuses the blob with InvalidCiphertextException.
func TestKMSTamperedBlob(t *testing.T) {
	kmsEnv(t, testSecretKey)
	_, kms, _ := startKMS(t, "alias/tde")
	fsys, c := newMemFS(), newClock()
	mustOpen(t, fsys, "/db", cfgWith(newTestKMS(t, kms.URL, "alias/tde"), MethodSM4CTR, c)).Close()
	b := []byte(fsys.snapshot()["/db/"+RegistryFile])
	_, aad, payload, err := decodeFile(b)
	if err != nil {
		t.Fatal(err)
	}
	blobEnd := len(aad) + 4 + 2 + int(binary.BigEndian.Uint16(payload))
	b[blobEnd-1] ^= 1 // the blob's last byte: its GCM tag
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32c(b[:len(b)-4]))
	fsys.put("/db/"+RegistryFile, b)
	_, err = OpenRegistry(context.Background(), fsys, "/db", cfgWith(newTestKMS(t, kms.URL, "alias/tde"), MethodSM4CTR, c))
	if !errors.Is(err, ErrCorruptRegistry) || errors.Is(err, ErrKMSUnavailable) || errors.Is(err, ErrWrongMasterKey) ||
		!strings.Contains(err.Error(), "InvalidCiphertextException") {
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
