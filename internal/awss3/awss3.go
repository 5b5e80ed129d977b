// Package awss3 is the AWS set-up every S3 source shares (fetch's s3://
// objects and prefixes, seed's s3:// archives): the standard credential
// chain with the SDK's retries off (initbox's retry loop is the only one),
// IMDSv2 with a short timeout, a custom endpoint with path-style
// addressing, region discovery per bucket, SSE-C keys, the one log line
// that names where the credentials came from, and the classification of
// S3's errors into what waiting can fix and what it cannot.
//
//	c, err := awss3.New(ctx, awss3.Options{Endpoint: "http://minio:9000"}, true)
//	err = c.Open(ctx)                 // logs: msg="S3 credentials" source=EnvConfigCredentials …
//	client, err := c.For(ctx, bucket) // the client for the bucket's region
package awss3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/initbox/initbox/internal/limit"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// Options configure the S3 client. Empty fields fall back to the AWS SDK's
// environment and shared configuration (AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL_S3, …).
type Options struct {
	Endpoint  string // a custom endpoint (MinIO, Ceph, R2)
	Region    string // default: the environment, else discovered per bucket
	PathStyle bool   // bucket in the path, as MinIO wants; on with Endpoint
	Profile   string // a shared-config profile
	Anonymous bool   // no credentials: public buckets
	// SSECKeyFile holds the 32-byte key of objects encrypted with SSE-C
	// (raw, or base64).
	SSECKeyFile string
	// TLS is filled from the command's TLS flags.
	TLS tlsconfig.Options
}

// Set names the flags given (their names are Flags'), so that a command
// can refuse them where no S3 source is used.
func (o Options) Set() []string {
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"--s3-endpoint", o.Endpoint != ""}, {"--s3-region", o.Region != ""}, {"--s3-path-style", o.PathStyle},
		{"--s3-profile", o.Profile != ""}, {"--s3-anonymous", o.Anonymous}, {"--s3-sse-c-key-file", o.SSECKeyFile != ""}} {
		if f.on {
			set = append(set, f.name)
		}
	}
	return set
}

// Client hands out S3 clients for buckets, one per region.
type Client struct {
	opts     Options
	cfg      aws.Config
	endpoint string
	sseKey   string // base64
	sseMD5   string // base64

	mu      sync.Mutex
	clients map[string]*s3.Client // by region
	regions map[string]string     // bucket → region
}

// imdsTimeout bounds one instance-metadata request: off EC2 (a laptop, most
// pods) it must not stall the credential chain.
const imdsTimeout = time.Second

// ErrNotFound is wrapped by Classify when the bucket, key or version does
// not exist.
var ErrNotFound = errors.New("not found")

// New configures the client. Without load it only checks the options (no
// file read, no network).
func New(ctx context.Context, opts Options, load bool) (*Client, error) {
	c := &Client{opts: opts, clients: map[string]*s3.Client{}, regions: map[string]string{}}
	c.endpoint = opts.Endpoint
	if c.endpoint == "" {
		c.endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if c.endpoint != "" {
		u, err := url.Parse(c.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--s3-endpoint %q: want a URL like https://minio:9000", redact.URLString(c.endpoint))
		}
		c.opts.PathStyle = true // MinIO and most compatible stores want it
	}
	if err := opts.TLS.Validate(); err != nil {
		return nil, err
	}
	if !load {
		return c, nil
	}
	if err := c.loadSSEC(); err != nil {
		return nil, err
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 128 // parallel ranged GETs to one host
	})
	if opts.TLS.Given() {
		tc, err := opts.TLS.Config(ctx)
		if err != nil {
			return nil, err
		}
		httpClient = httpClient.WithTransportOptions(func(tr *http.Transport) { tr.TLSClientConfig = tc })
	}
	lo := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithLogger(logging.Nop{}), // initbox logs; the SDK's own lines would bypass the format and the scrubbing
		config.WithHTTPClient(httpClient),
		config.WithEC2RoleCredentialOptions(func(o *ec2rolecreds.Options) {
			o.Client = imds.New(imds.Options{
				HTTPClient: awshttp.NewBuildableClient().WithTimeout(imdsTimeout),
				Retryer:    aws.NopRetryer{},
			})
		}),
	}
	if opts.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	if opts.Anonymous {
		lo = append(lo, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %v", redact.Scrub(err.Error()))
	}
	c.cfg = cfg
	return c, nil
}

func (c *Client) loadSSEC() error {
	if c.opts.SSECKeyFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.opts.SSECKeyFile)
	if err != nil {
		return fmt.Errorf("--s3-sse-c-key-file: %w", err)
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) != 32 {
		if dec, err := base64.StdEncoding.DecodeString(string(key)); err == nil {
			key = dec
		} else {
			key = b
		}
	}
	if len(key) != 32 {
		return errors.New("--s3-sse-c-key-file: want a 256-bit key (32 bytes, raw or base64)")
	}
	sum := md5.Sum(key)
	c.sseKey, c.sseMD5 = base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(sum[:])
	redact.Register(c.sseKey, string(key))
	return nil
}

// SSEC returns the SSE-C headers of a request (algorithm, key, key MD5), or
// nils when no key is configured.
func (c *Client) SSEC() (algorithm, key, keyMD5 *string) {
	if c.sseKey == "" {
		return nil, nil, nil
	}
	return aws.String("AES256"), aws.String(c.sseKey), aws.String(c.sseMD5)
}

// Open resolves the credentials once and logs where they came from (the
// provider and a clipped access key id, never the secret).
func (c *Client) Open(ctx context.Context) error {
	if c.opts.Anonymous {
		slog.InfoContext(ctx, "S3 without credentials (--s3-anonymous)", "endpoint", c.EndpointName())
		return nil
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		var oe interface{ Timeout() bool }
		if errors.As(err, &oe) && oe.Timeout() {
			return fmt.Errorf("getting AWS credentials: %v", redact.Scrub(err.Error()))
		}
		return retry.Permanent(fmt.Errorf("no AWS credentials (looked in the environment, shared config%s, web identity, pod identity and instance metadata): %v",
			profileNote(c.opts.Profile), redact.Scrub(err.Error())))
	}
	redact.Register(creds.SecretAccessKey, creds.SessionToken)
	slog.InfoContext(ctx, "S3 credentials", "source", creds.Source, "access_key_id", KeyID(creds.AccessKeyID), "endpoint", c.EndpointName())
	return nil
}

func profileNote(p string) string {
	if p == "" {
		return ""
	}
	return " (profile " + p + ")"
}

// KeyID shows enough of an access key id to tell keys apart, not all of it.
func KeyID(id string) string {
	if len(id) <= 8 {
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}

// EndpointName is the endpoint for logs: the custom one, redacted, or AWS.
func (c *Client) EndpointName() string {
	if c.endpoint != "" {
		return redact.URLString(c.endpoint)
	}
	return "AWS"
}

// For returns the client for a bucket's region, discovering the region
// once per bucket when none is configured.
func (c *Client) For(ctx context.Context, bucket string) (*s3.Client, error) {
	c.mu.Lock()
	region := c.regions[bucket]
	c.mu.Unlock()
	if region == "" {
		region = c.cfg.Region
		if region == "" && c.endpoint != "" {
			region = "us-east-1" // compatible stores ignore it, SigV4 needs one
		}
		if region == "" {
			probe := c.newClient("us-east-1")
			r, err := manager.GetBucketRegion(ctx, probe, bucket)
			if err != nil {
				return nil, Classify(err, "s3://"+bucket, "finding the bucket's region")
			}
			region = r
			slog.DebugContext(ctx, "bucket region", "bucket", bucket, "region", r)
		}
		c.mu.Lock()
		c.regions[bucket] = region
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clients[region]
	if !ok {
		cl = c.newClient(region)
		c.clients[region] = cl
	}
	return cl, nil
}

func (c *Client) newClient(region string) *s3.Client {
	return s3.NewFromConfig(c.cfg, func(o *s3.Options) {
		// Here, not in the config: the SDK adds a CA bundle
		// (AWS_CA_BUNDLE) only to its own client type.
		o.HTTPClient = cappedClient{o.HTTPClient}
		o.Region = region
		o.UsePathStyle = c.opts.PathStyle
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// Classify marks what waiting cannot fix as permanent (docs/design.md §4):
// SlowDown, 503, 500, RequestTimeout and connection errors are
// retried; access denied, bad credentials, a missing bucket or key are not
// (a missing key or version wraps ErrNotFound). what names the object,
// doing what was being done.
func Classify(err error, what, doing string) error {
	prefix := doing
	if what != "" {
		prefix = what + ": " + doing
	}
	var big *answerTooLargeError
	if errors.As(err, &big) {
		return retry.Permanent(fmt.Errorf("%s: reading the answer: %w", prefix, big))
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 0 {
		// No response at all: the request never got an answer.
		return transport(err, prefix)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		msg := code
		if m := ae.ErrorMessage(); m != "" && m != code {
			msg += ": " + redact.Scrub(m)
		}
		e := fmt.Errorf("%s: %s", prefix, msg)
		switch code {
		case "NoSuchKey", "NotFound", "NoSuchVersion":
			return retry.Permanent(fmt.Errorf("%w: %w", e, ErrNotFound))
		case "NoSuchBucket":
			return retry.Permanent(fmt.Errorf("%w; check the bucket name (and --s3-endpoint)", e))
		case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem":
			return retry.Permanent(fmt.Errorf("%w; not retried: check the AWS credentials and that they allow s3:GetObject (and s3:ListBucket for a prefix)", e))
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
			return retry.Permanent(fmt.Errorf("%w; not retried: check the AWS credentials", e))
		case "PreconditionFailed":
			return retry.Permanent(fmt.Errorf("%w: the object changed during the download; run again", e))
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed", "XMinioServerNotInitialized", "XMinioStorageFull":
			return e
		}
		if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			return e
		}
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			return retry.Permanent(fmt.Errorf("%w: %w", e, ErrNotFound))
		}
		return retry.Permanent(e)
	}
	if errors.As(err, &re) && re.HTTPStatusCode()/100 == 2 {
		// A 2xx whose answer could not be decoded: cut short, retried (one
		// larger than any answer may be is refused above, by its type).
		return fmt.Errorf("%s: reading the answer: %v", prefix, redact.Scrub(re.Err.Error()))
	}
	if errors.As(err, &re) {
		e := fmt.Errorf("%s: HTTP %d", prefix, re.HTTPStatusCode())
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			return retry.Permanent(fmt.Errorf("%w: %w", e, ErrNotFound))
		case code == http.StatusForbidden:
			return retry.Permanent(fmt.Errorf("%w; not retried: access denied", e))
		case code >= 500 || code == http.StatusTooManyRequests:
			return e
		}
		return retry.Permanent(e)
	}
	return transport(err, prefix)
}

// transport classifies an error without an HTTP answer: a TLS verification
// failure is permanent; refused, reset, timed out are retried.
func transport(err error, prefix string) error {
	if tlsconfig.IsVerificationError(err) {
		return retry.Permanent(fmt.Errorf("%s: %w; not retried: trust the endpoint's CA with --ca-file", prefix, err))
	}
	return fmt.Errorf("%s: %v", prefix, redact.Scrub(err.Error()))
}

// MaxAnswer is the most of any answer but an object's content that is
// read: S3's XML answers (a listing page, an error) are small, and a store
// that sends more does not fill the memory.
const MaxAnswer = 16 << 20

// cappedClient caps every answer's body but GetObject's (whose size the
// caller knows and caps). The capped body is read whole before the SDK
// decodes it: an answer over the cap is refused after reading 16 MiB off
// the wire, not after decoding 16 MiB of XML (tens of seconds under the
// race detector); one whose Content-Length says so is refused unread.
type cappedClient struct{ next aws.HTTPClient }

func (c cappedClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(r)
	if err != nil || r.URL.Query().Get("x-id") == "GetObject" {
		return resp, err
	}
	tooLarge := func() error { return &answerTooLargeError{r.Method} }
	// A HEAD answer's Content-Length is the object's, with no body.
	if r.Method != http.MethodHead && resp.ContentLength > MaxAnswer {
		resp.Body.Close()
		return nil, retry.Permanent(tooLarge())
	}
	body, err := io.ReadAll(limit.Reader(resp.Body, MaxAnswer, tooLarge))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// answerTooLargeError is an answer over MaxAnswer: waiting does not fix it.
type answerTooLargeError struct{ method string }

func (e *answerTooLargeError) Error() string {
	return fmt.Sprintf("the store's answer to %s is larger than %d MiB; refused", e.method, MaxAnswer>>20)
}

// IsChecksumMismatch reports whether a body read failed the SDK's check of
// a stored checksum: the bytes are corrupt, and reading again from the same
// place is unlikely to help.
func IsChecksumMismatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "checksum did not match")
}
