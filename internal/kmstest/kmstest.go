// Package kmstest runs a real KMS-compatible server for tests:
// local-kms (github.com/nsmithuk/local-kms, pinned as a tool in go.mod), a
// program nobody here wrote that implements the AWS KMS JSON API with real
// AES-GCM keys kept in a data directory. Tests drive tde's KMS master key,
// the AWS SDK's client, against it on a loopback address.
//
// The binary is built once per test binary with go tool -n (the go build
// cache keeps it between runs), or taken from $TDE_LOCAL_KMS, which make
// test sets after building it: there a missing binary fails the test
// rather than skipping it.
package kmstest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Test credentials and region. local-kms does not check signatures; the
// SDK needs credentials to sign with all the same.
const (
	AccessKey = "AKIDTDETESTKEY"
	SecretKey = "tde-test-secret-access-key"
	Region    = "us-west-2"
	Account   = "111122223333"
)

// Module is local-kms's package path, as go.mod's tool line names it.
const Module = "github.com/nsmithuk/local-kms"

// EnvBinary names a prebuilt local-kms; when set, tests never skip.
const EnvBinary = "TDE_LOCAL_KMS"

// SetEnv points the AWS SDK's default credential chain at static test
// credentials (secret as the secret key) and away from every file,
// profile and instance-metadata lookup, so nothing leaves the machine.
// Region is left unset: tests name it.
func SetEnv(t testing.TB, secret string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           AccessKey,
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

var build struct {
	once sync.Once
	path string
	err  error
	env  bool // from EnvBinary
}

// Binary returns the path of local-kms, building it the first time. It
// skips the test if it cannot be built (no go command, no module cache
// and no proxy), unless EnvBinary is set, which makes any problem fatal.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv(EnvBinary); p != "" {
			build.env = true
			if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				build.err = fmt.Errorf("$%s=%s is not an executable local-kms (make test builds it): %v", EnvBinary, p, err)
				return
			}
			build.path = p
			return
		}
		gocmd, err := exec.LookPath("go")
		if err != nil {
			build.err = fmt.Errorf("no go command to build local-kms with: %w", err)
			return
		}
		// For this machine, whatever GOARCH the tests are built for (the
		// arm64 tests run under qemu and exec it natively).
		cmd := exec.Command(gocmd, "tool", "-n", Module)
		cmd.Env = append(os.Environ(), "GOOS=", "GOARCH=", "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			build.err = fmt.Errorf("go tool -n %s: %v\n%s", Module, err, stderr.Bytes())
			return
		}
		build.path = strings.TrimSpace(string(out))
	})
	if build.err != nil {
		if build.env {
			t.Fatalf("local-kms: %v", build.err)
		}
		t.Skipf("skipped: local-kms, the KMS server these tests run against, cannot be built here (make test builds it): %v", build.err)
	}
	return build.path
}

// Server is a local-kms process serving on a loopback port, with its keys
// in a data directory of the test's. local-kms listens on every interface
// (it binds ":PORT"); tests only ever reach it through 127.0.0.1.
type Server struct {
	t    testing.TB
	bin  string
	data string // KMS_DATA_PATH
	port string
	// URL is the endpoint: http://127.0.0.1:PORT. It stays the same across
	// Stop and Restart.
	URL string

	mu  sync.Mutex
	cmd *exec.Cmd
	out bytes.Buffer // the server's log, for failures
}

// Start starts local-kms on a free loopback port and waits until it
// answers. It is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), data: filepath.Join(t.TempDir(), "kms")}
	t.Cleanup(s.Stop)
	s.start("0") // it picks a free port and says which
	s.URL = "http://127.0.0.1:" + s.port
	s.waitReady()
	return s
}

var startedRE = regexp.MustCompile(`Local KMS started on [^ ]*:(\d+)`)

func (s *Server) start(port string) {
	s.t.Helper()
	cmd := exec.Command(s.bin)
	cmd.Env = []string{
		"PORT=" + port,
		"KMS_DATA_PATH=" + s.data,
		"KMS_SEED_PATH=" + filepath.Join(s.data, "no-seed.yaml"),
		"KMS_REGION=" + Region,
		"KMS_ACCOUNT_ID=" + Account,
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting local-kms: %v", err)
	}
	pw.Close()
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	ports := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if m := startedRE.FindStringSubmatch(line); m != nil {
				select {
				case ports <- m[1]:
				default:
				}
			}
		}
		pr.Close()
		close(ports)
	}()
	select {
	case p, ok := <-ports:
		if !ok {
			s.t.Fatalf("local-kms exited before it listened:\n%s", s.Log())
		}
		if port != "0" && p != port {
			s.t.Fatalf("local-kms listens on port %s, asked for %s", p, port)
		}
		s.port = p
	case <-time.After(30 * time.Second):
		s.t.Fatalf("local-kms did not say it listened within 30s:\n%s", s.Log())
	}
}

// waitReady polls until the server answers a ListKeys call.
func (s *Server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("local-kms at %s does not answer: %v\n%s", s.URL, err, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) ping() error {
	req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader("{}"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListKeys: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Stop kills the server and waits for it: the port refuses connections
// until Restart. Its keys stay in its data directory.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// Restart starts the server again on the same port with the same data
// directory (the same keys), and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start(s.port)
	s.waitReady()
}

// Pause stops the process (SIGSTOP) without closing its socket: the
// kernel still accepts connections, and nothing answers them, as with a
// KMS that hangs. Resume continues it.
func (s *Server) Pause()  { s.signal(syscall.SIGSTOP) }
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		if err := s.cmd.Process.Signal(sig); err != nil {
			s.t.Fatalf("local-kms: %v: %v", sig, err)
		}
	}
}

// Client is an SDK client for managing the server's keys.
func (s *Server) Client() *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// CreateKey makes a symmetric key through KMS's CreateKey and, if alias is
// not empty, names it alias ("alias/…"). It returns the key's id.
func (s *Server) CreateKey(alias string) string {
	s.t.Helper()
	ctx := context.Background()
	out, err := s.Client().CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("tde test key " + alias)})
	if err != nil {
		s.t.Fatalf("local-kms CreateKey: %v", err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if alias != "" {
		if _, err := s.Client().CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)}); err != nil {
			s.t.Fatalf("local-kms CreateAlias %s: %v", alias, err)
		}
	}
	return id
}

// DisableKey and EnableKey switch a key off and on (KMS's DisableKey and
// EnableKey).
func (s *Server) DisableKey(id string) {
	s.t.Helper()
	if _, err := s.Client().DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
		s.t.Fatalf("local-kms DisableKey: %v", err)
	}
}

func (s *Server) EnableKey(id string) {
	s.t.Helper()
	if _, err := s.Client().EnableKey(context.Background(), &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
		s.t.Fatalf("local-kms EnableKey: %v", err)
	}
}

// Counter is a reverse proxy in front of a server that counts the calls
// going through it by KMS operation (X-Amz-Target): point an endpoint at
// its URL to count what a client asks of the KMS.
type Counter struct {
	URL string

	mu    sync.Mutex
	calls map[string]int
}

// NewCounter starts a counting proxy to s on a loopback port, closed when
// the test ends.
func (s *Server) NewCounter() *Counter {
	s.t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	c := &Counter{calls: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		c.mu.Lock()
		c.calls[op]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	s.t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Count is the number of calls of op ("Decrypt", "GenerateDataKey") so
// far.
func (c *Counter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// Total is the number of calls of every operation so far.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.calls {
		n += k
	}
	return n
}
