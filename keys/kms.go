package keys

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// KMSConfig names a key in the AWS KMS API (AWS itself, or any compatible
// endpoint). Credentials come from the SDK's usual chain: environment,
// shared config and credentials files, web identity, container and instance
// roles.
type KMSConfig struct {
	// KeyID is the key: id, ARN, alias name ("alias/tde") or alias ARN.
	KeyID string
	// Region is the key's region; "" takes the SDK's (AWS_REGION, config).
	Region string
	// Endpoint overrides the service URL, for a KMS-compatible server or a
	// VPC endpoint; "" uses AWS's endpoint for the region. A plain http://
	// endpoint is refused (ErrInsecureEndpoint) unless AllowInsecureEndpoint
	// is set.
	Endpoint string
	// AllowInsecureEndpoint accepts an http:// Endpoint. KMS's answers hold
	// the registry key in clear: over plain HTTP anyone on the path reads
	// it, and with it every data key. Only for a KMS on the loopback
	// interface (a test server, a sidecar).
	AllowInsecureEndpoint bool
	// MaxAttempts bounds the SDK's attempts per call, retries included;
	// 0 means the SDK's default (3).
	MaxAttempts int
	// MaxBackoff bounds the SDK's wait between attempts; 0 means its
	// default (20s).
	MaxBackoff time.Duration
	// Timeout bounds each call, retries included; 0 means one minute.
	// Opening a store fails after it rather than hanging on an unreachable
	// KMS.
	Timeout time.Duration
}

// kmsContext is the KMS encryption context of every call: it is
// authenticated by KMS and shows in its audit log.
var kmsContext = map[string]string{"tde": "key-registry"}

// NewKMS returns a master key held by a KMS. It makes no call: a KMS that
// cannot be reached is reported when the registry is opened, as
// ErrKMSUnavailable, before anything is written.
//
// The registry is not sent to KMS. Once per master key, GenerateDataKey
// gives a 256-bit registry key and its KMS-encrypted form; the registry is
// sealed locally with AES-256-GCM under that key, and the encrypted form is
// stored beside it and decrypted by KMS when the registry is opened. So KMS
// Encrypt's 4 KiB limit does not bound the number of data keys, and once
// the registry is open, data-key rotation needs no KMS call (an outage does
// not stop it). The registry key is cached in memory, and zeroed by Close.
func NewKMS(ctx context.Context, cfg KMSConfig) (MasterKey, error) {
	if cfg.KeyID == "" {
		return nil, errors.New("keys: KMS master key: no key id")
	}
	if insecureEndpoint(cfg.Endpoint) && !cfg.AllowInsecureEndpoint {
		return nil, fmt.Errorf("%w: KMS master key %q: endpoint %q is plain http, which carries the registry key in clear; use https, or set KMSConfig.AllowInsecureEndpoint",
			ErrInsecureEndpoint, cfg.KeyID, cfg.Endpoint)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.MaxAttempts > 0 || cfg.MaxBackoff > 0 {
		opts = append(opts, config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				if cfg.MaxAttempts > 0 {
					o.MaxAttempts = cfg.MaxAttempts
				}
				if cfg.MaxBackoff > 0 {
					o.MaxBackoff = cfg.MaxBackoff
				}
			})
		}))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("keys: KMS master key %q: loading AWS configuration: %w", cfg.KeyID, err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("keys: KMS master key %q: no region (set it in the configuration or AWS_REGION)", cfg.KeyID)
	}
	cfg.Region = awsCfg.Region
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &kmsKey{cfg: cfg, client: client}, nil
}

// insecureEndpoint reports whether a KMS endpoint is plain HTTP.
func insecureEndpoint(endpoint string) bool {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	return err == nil && strings.EqualFold(u.Scheme, "http")
}

type kmsKey struct {
	cfg    KMSConfig
	client *kms.Client

	mu     sync.Mutex
	blob   []byte  // KMS ciphertext of the cached registry key
	key    *secret // the registry key; nil until first used
	closed bool
}

func (k *kmsKey) Kind() string { return KindKMS }
func (k *kmsKey) ID() string   { return k.cfg.KeyID }

func (k *kmsKey) String() string {
	s := fmt.Sprintf("kms master key %q (region %s", k.cfg.KeyID, k.cfg.Region)
	if k.cfg.Endpoint != "" {
		s += ", endpoint " + k.cfg.Endpoint
	}
	return s + ")"
}

func (k *kmsKey) GoString() string           { return k.String() }
func (k *kmsKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// Wrapped data is blob-len u16 | blob | nonce(12) | ciphertext | tag(16),
// with the blob authenticated by GCM as well.
func (k *kmsKey) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrClosed
	}
	if k.key == nil {
		ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
		defer cancel()
		out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId:             aws.String(k.cfg.KeyID),
			KeySpec:           types.DataKeySpecAes256,
			EncryptionContext: kmsContext,
		})
		if err != nil {
			return nil, k.error("GenerateDataKey", err)
		}
		if err := k.cache(out.CiphertextBlob, out.Plaintext); err != nil {
			return nil, k.error("GenerateDataKey", err)
		}
	}
	g, err := newGCM(k.key.bytes())
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(k.blob)))
	out = append(out, k.blob...)
	// Seal appends nonce | ciphertext | tag, drawing the nonce (newGCM).
	return g.Seal(out, nil, plaintext, append(append([]byte(nil), aad...), k.blob...)), nil
}

func (k *kmsKey) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrClosed
	}
	d := decoder{b: wrapped}
	n, ok := d.u16()
	blob, ok2 := d.bytes(int(n))
	_, ok3 := d.bytes(gcmNonceSize)
	if !ok || !ok2 || !ok3 || n == 0 || len(wrapped)-d.off < gcmTagSize {
		return nil, fmt.Errorf("%w: KMS-wrapped payload of %d bytes is malformed", ErrCorruptRegistry, len(wrapped))
	}
	if k.key == nil || !bytes.Equal(blob, k.blob) {
		ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
		defer cancel()
		out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
			CiphertextBlob:    blob,
			KeyId:             aws.String(k.cfg.KeyID),
			EncryptionContext: kmsContext,
		})
		if err != nil {
			return nil, k.error("Decrypt", err)
		}
		if err := k.cache(blob, out.Plaintext); err != nil {
			return nil, k.error("Decrypt", err)
		}
	}
	g, err := newGCM(k.key.bytes())
	if err != nil {
		return nil, err
	}
	sealed := wrapped[d.off-gcmNonceSize:] // nonce | ciphertext | tag, as newGCM reads it
	pt, err := g.Open(nil, nil, sealed, append(append([]byte(nil), aad...), blob...))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed under the KMS registry key", ErrCorruptRegistry)
	}
	return pt, nil
}

// cache keeps a registry key and its KMS ciphertext, zeroing the SDK's copy
// of the key.
func (k *kmsKey) cache(blob, key []byte) error {
	defer clear(key)
	if len(key) != 32 {
		return fmt.Errorf("KMS returned a %d-byte data key; want 32", len(key))
	}
	if len(blob) == 0 || len(blob) > 0xffff {
		return fmt.Errorf("KMS returned a %d-byte ciphertext blob", len(blob))
	}
	k.key.destroy()
	k.key = newSecret(key)
	k.blob = append([]byte(nil), blob...)
	return nil
}

func (k *kmsKey) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	k.key.destroy()
	k.key = nil
	return nil
}

// error classifies a failed call, so the registry can tell a wrong key
// (IncorrectKeyException) and a rejected ciphertext from an outage.
func (k *kmsKey) error(op string, err error) error {
	return &KMSError{Op: op, KeyID: k.cfg.KeyID, Endpoint: k.cfg.Endpoint, Err: err, kind: classifyKMS(err)}
}

func classifyKMS(err error) error {
	var (
		incorrect  *types.IncorrectKeyException
		invalid    *types.InvalidCiphertextException
		notFound   *types.NotFoundException
		disabled   *types.DisabledException
		badState   *types.KMSInvalidStateException
		internal   *types.KMSInternalException
		depTimeout *types.DependencyTimeoutException
		unavail    *types.KeyUnavailableException
		resp       *smithyhttp.ResponseError
		send       *smithyhttp.RequestSendError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &incorrect):
		return ErrWrongMasterKey
	case errors.As(err, &invalid):
		return ErrCorruptRegistry
	case errors.As(err, &notFound), errors.As(err, &disabled), errors.As(err, &badState):
		return ErrKMSKeyNotFound
	case errors.As(err, &internal), errors.As(err, &depTimeout), errors.As(err, &unavail),
		errors.As(err, &send), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ErrKMSUnavailable
	}
	var api smithy.APIError
	if errors.As(err, &api) && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return ErrKMSUnavailable
	}
	if errors.As(err, &resp) && (resp.HTTPStatusCode() >= 500 || resp.HTTPStatusCode() == 429) {
		return ErrKMSUnavailable
	}
	return nil
}
