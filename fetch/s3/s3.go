// Package s3 is fetch's S3 source (AWS S3 and compatible stores: MinIO,
// Ceph, R2): it lists prefixes, streams objects whole or in ranges, and says
// whether a download can be verified beyond its size. It uses aws-sdk-go-v2
// with the SDK's retries off (fetch's retry loop is the only one) and its
// standard credential chain: environment, shared config and profiles, web
// identity (IRSA), EKS Pod Identity, then IMDSv2 with a short timeout.
//
//	s3://bucket/config/app.yaml             one object
//	s3://bucket/models/                     everything under the prefix
//	s3://bucket/app.yaml?versionId=3HL4kqt  one version
package s3

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// Source reads from S3.
type Source struct {
	opts     source.S3Options
	cfg      aws.Config
	endpoint string
	sseKey   string // base64
	sseMD5   string // base64

	mu      sync.Mutex
	clients map[string]*s3.Client // by region
	regions map[string]string     // bucket → region
}

var _ source.ObjectSource = (*Source)(nil)

// imdsTimeout bounds one instance-metadata request: off EC2 (a laptop, most
// pods) it must not stall the credential chain.
const imdsTimeout = time.Second

// New configures the client. Without load it only checks the options.
func New(ctx context.Context, opts source.S3Options, load bool) (*Source, error) {
	s := &Source{opts: opts, clients: map[string]*s3.Client{}, regions: map[string]string{}}
	s.endpoint = opts.Endpoint
	if s.endpoint == "" {
		s.endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if s.endpoint != "" {
		u, err := url.Parse(s.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--s3-endpoint %q: want a URL like https://minio:9000", redact.URLString(s.endpoint))
		}
		s.opts.PathStyle = true // MinIO and most compatible stores want it
	}
	if err := opts.TLS.Validate(); err != nil {
		return nil, err
	}
	if !load {
		return s, nil
	}
	if opts.SSECKeyFile != "" {
		b, err := os.ReadFile(opts.SSECKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--sse-c-key-file: %w", err)
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
			return nil, errors.New("--sse-c-key-file: want a 256-bit key (32 bytes, raw or base64)")
		}
		sum := md5.Sum(key)
		s.sseKey, s.sseMD5 = base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(sum[:])
		redact.Register(s.sseKey, string(key))
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
	s.cfg = cfg
	return s, nil
}

// CheckRef refuses what S3 references cannot mean.
func (s *Source) CheckRef(ref source.Ref) error {
	switch {
	case ref.Key != "" || ref.As != "" || ref.KV != 0 || ref.Write || ref.Mount != "" || ref.Default != nil:
		return fmt.Errorf("reference %s: s3:// takes #optional only (the object is written as it is)", ref.Display)
	case ref.URL.Host == "":
		return fmt.Errorf("reference %s: write it as s3://BUCKET/KEY or s3://BUCKET/PREFIX/", ref.Display)
	}
	for k := range ref.URL.Query() {
		if k != "versionId" {
			return fmt.Errorf("reference %s: unknown parameter ?%s; s3:// takes ?versionId=", ref.Display, k)
		}
	}
	if isPrefix(ref) && ref.URL.Query().Has("versionId") {
		return fmt.Errorf("reference %s: ?versionId names one object, not a prefix", ref.Display)
	}
	return nil
}

func isPrefix(ref source.Ref) bool {
	return ref.URL.Path == "" || strings.HasSuffix(ref.URL.Path, "/")
}

// Open resolves the credentials once and logs where they came from.
func (s *Source) Open(ctx context.Context) error {
	if s.opts.Anonymous {
		slog.InfoContext(ctx, "S3 without credentials (--s3-anonymous)", "endpoint", s.endpointName())
		return nil
	}
	creds, err := s.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		var oe interface{ Timeout() bool }
		if errors.As(err, &oe) && oe.Timeout() {
			return fmt.Errorf("getting AWS credentials: %v", redact.Scrub(err.Error()))
		}
		return retry.Permanent(fmt.Errorf("no AWS credentials (looked in the environment, shared config%s, web identity, pod identity and instance metadata): %v",
			profileNote(s.opts.Profile), redact.Scrub(err.Error())))
	}
	redact.Register(creds.SecretAccessKey, creds.SessionToken)
	slog.InfoContext(ctx, "S3 credentials", "source", creds.Source, "access_key_id", keyID(creds.AccessKeyID), "endpoint", s.endpointName())
	return nil
}

func profileNote(p string) string {
	if p == "" {
		return ""
	}
	return " (profile " + p + ")"
}

// keyID shows enough of an access key id to tell keys apart, not all of it.
func keyID(id string) string {
	if len(id) <= 8 {
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}

func (s *Source) endpointName() string {
	if s.endpoint != "" {
		return redact.URLString(s.endpoint)
	}
	return "AWS"
}

// Close releases nothing: S3 credentials are not sessions.
func (s *Source) Close(context.Context) error { return nil }

// client returns the client for a bucket's region, discovering the region
// once per bucket when none is configured.
func (s *Source) client(ctx context.Context, bucket string) (*s3.Client, error) {
	s.mu.Lock()
	region := s.regions[bucket]
	s.mu.Unlock()
	if region == "" {
		region = s.cfg.Region
		if region == "" && s.endpoint != "" {
			region = "us-east-1" // compatible stores ignore it, SigV4 needs one
		}
		if region == "" {
			probe := s.newClient("us-east-1")
			r, err := manager.GetBucketRegion(ctx, probe, bucket)
			if err != nil {
				return nil, classify(err, "s3://"+bucket, "finding the bucket's region")
			}
			region = r
			slog.DebugContext(ctx, "bucket region", "bucket", bucket, "region", r)
		}
		s.mu.Lock()
		s.regions[bucket] = region
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[region]
	if !ok {
		c = s.newClient(region)
		s.clients[region] = c
	}
	return c, nil
}

func (s *Source) newClient(region string) *s3.Client {
	return s3.NewFromConfig(s.cfg, func(o *s3.Options) {
		o.Region = region
		o.UsePathStyle = s.opts.PathStyle
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// List returns the objects a reference names.
func (s *Source) List(ctx context.Context, ref source.Ref) ([]source.Object, error) {
	bucket, key := ref.URL.Host, strings.TrimPrefix(ref.URL.Path, "/")
	c, err := s.client(ctx, bucket)
	if err != nil {
		return nil, err
	}
	if !isPrefix(ref) {
		in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if v := ref.URL.Query().Get("versionId"); v != "" {
			in.VersionId = aws.String(v)
		}
		if s.sseKey != "" {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(s.sseKey), aws.String(s.sseMD5)
		}
		out, err := c.HeadObject(ctx, in)
		if err != nil {
			err = classify(err, "", "reading the object's metadata")
			if errors.Is(err, source.ErrNotFound) {
				// A HEAD has no error body: ask whether the bucket exists.
				if _, berr := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); berr != nil {
					if berr = classify(berr, "", "checking the bucket"); errors.Is(berr, source.ErrNotFound) {
						return nil, retry.Permanent(fmt.Errorf("bucket %q does not exist; check the name (and --s3-endpoint)", bucket))
					}
				}
			}
			return nil, err
		}
		return []source.Object{{Ref: ref.Display, Bucket: bucket, Key: key, Name: path.Base(key), Size: aws.ToInt64(out.ContentLength),
			ETag: aws.ToString(out.ETag), VersionID: aws.ToString(out.VersionId)}}, nil
	}
	var objs []source.Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "", "listing the prefix")
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasSuffix(k, "/") && aws.ToInt64(o.Size) == 0 {
				continue // a "directory" marker
			}
			objs = append(objs, source.Object{Ref: ref.Display, Bucket: bucket, Key: k, Name: strings.TrimPrefix(k, key),
				Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)})
		}
	}
	if len(objs) == 0 {
		return nil, retry.Permanent(fmt.Errorf("no objects under this prefix: %w", source.ErrNotFound))
	}
	return objs, nil
}

// Get streams a range, or the whole object, into w. It pins the object's
// ETag (and version), so that every part comes from the same object.
func (s *Source) Get(ctx context.Context, obj source.Object, off, n int64, w io.Writer) (source.GetInfo, error) {
	c, err := s.client(ctx, obj.Bucket)
	if err != nil {
		return source.GetInfo{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)}
	if obj.ETag != "" {
		in.IfMatch = aws.String(obj.ETag)
	}
	if obj.VersionID != "" && obj.VersionID != "null" {
		in.VersionId = aws.String(obj.VersionID)
	}
	if n >= 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	} else {
		in.ChecksumMode = types.ChecksumModeEnabled
	}
	if s.sseKey != "" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(s.sseKey), aws.String(s.sseMD5)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return source.GetInfo{}, classify(err, "s3://"+obj.Bucket+"/"+obj.Key, "downloading")
	}
	defer out.Body.Close()
	var info source.GetInfo
	var md5sum hash.Hash
	if n < 0 {
		// A whole GET: the SDK checks a stored full-object checksum as the
		// body streams; without one, the MD5 is checked against the ETag
		// when the ETag is one.
		if algo := fullChecksum(out); algo != "" {
			info.VerifiedBy = "stored " + algo + " checksum"
		} else if md5ETag(obj) != "" && !encrypted(out.ServerSideEncryption, out.SSECustomerAlgorithm) {
			md5sum = md5.New()
			w = io.MultiWriter(w, md5sum)
		}
	}
	buf := bufPool.Get().(*[]byte)
	copied, err := io.CopyBuffer(w, out.Body, *buf)
	bufPool.Put(buf)
	if err != nil {
		if strings.Contains(err.Error(), "checksum did not match") {
			return info, retry.Permanent(fmt.Errorf("s3://%s/%s: %w; the download is corrupt; nothing is published", obj.Bucket, obj.Key, err))
		}
		return info, fmt.Errorf("s3://%s/%s: reading: %w", obj.Bucket, obj.Key, err)
	}
	want := obj.Size - off
	if n >= 0 {
		want = n
	}
	if copied != want {
		return info, fmt.Errorf("s3://%s/%s: got %d bytes, want %d", obj.Bucket, obj.Key, copied, want)
	}
	if md5sum != nil {
		if err := checkMD5(obj, md5sum.Sum(nil)); err != nil {
			return info, err
		}
		info.VerifiedBy = "MD5 ETag"
	}
	return info, nil
}

func encrypted(sse types.ServerSideEncryption, sseC *string) bool {
	return sse == types.ServerSideEncryptionAwsKms || sse == types.ServerSideEncryptionAwsKmsDsse || sseC != nil
}

// bufPool holds copy buffers: a download of many small objects would
// otherwise allocate one per object and keep the garbage collector busy.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fullChecksum names the whole-object checksum the SDK checked as the body
// streamed, "" if none (composite "-N" checksums of multipart uploads are not
// checked by the SDK).
func fullChecksum(out *s3.GetObjectOutput) string {
	for _, c := range []struct {
		name string
		sum  *string
	}{{"CRC64NVME", out.ChecksumCRC64NVME}, {"CRC32C", out.ChecksumCRC32C}, {"CRC32", out.ChecksumCRC32}, {"SHA-256", out.ChecksumSHA256}, {"SHA-1", out.ChecksumSHA1}} {
		if c.sum != nil && !strings.Contains(*c.sum, "-") && out.ChecksumType != types.ChecksumTypeComposite {
			return c.name
		}
	}
	return ""
}

// Verifier says how a ranged download is verified beyond its size: the
// SDK does not check ranges, so a HEAD asks for the object's stored
// full-object checksum (CRC64NVME, CRC32C, CRC32, SHA-256, SHA-1), which the
// caller computes over the whole file; without one, the MD5 of a single-part
// ETag (no SSE-KMS or SSE-C); else nothing.
func (s *Source) Verifier(ctx context.Context, obj source.Object) (source.Verifier, error) {
	c, err := s.client(ctx, obj.Bucket)
	if err != nil {
		return source.Verifier{}, err
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key), ChecksumMode: types.ChecksumModeEnabled}
	if obj.ETag != "" {
		in.IfMatch = aws.String(obj.ETag)
	}
	if obj.VersionID != "" && obj.VersionID != "null" {
		in.VersionId = aws.String(obj.VersionID)
	}
	if s.sseKey != "" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(s.sseKey), aws.String(s.sseMD5)
	}
	out, err := c.HeadObject(ctx, in)
	if err != nil {
		return source.Verifier{}, classify(err, "s3://"+obj.Bucket+"/"+obj.Key, "reading the object's checksum")
	}
	for _, c := range []struct {
		name string
		sum  *string
		new  func() hash.Hash
	}{
		{"CRC64NVME", out.ChecksumCRC64NVME, func() hash.Hash { return crc64.New(crc64NVME) }},
		{"CRC32C", out.ChecksumCRC32C, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
		{"CRC32", out.ChecksumCRC32, func() hash.Hash { return crc32.NewIEEE() }},
		{"SHA-256", out.ChecksumSHA256, sha256.New},
		{"SHA-1", out.ChecksumSHA1, sha1.New},
	} {
		if c.sum == nil || strings.Contains(*c.sum, "-") || out.ChecksumType == types.ChecksumTypeComposite {
			continue // composite checksums of multipart uploads are checksums of parts
		}
		want := *c.sum
		return source.Verifier{What: "stored " + c.name + " checksum", New: c.new, Verify: func(sum []byte) error {
			if got := base64.StdEncoding.EncodeToString(sum); got != want {
				return retry.Permanent(fmt.Errorf("s3://%s/%s: content %s %s does not match the stored %s: the download is corrupt; nothing is published",
					obj.Bucket, obj.Key, c.name, got, want))
			}
			return nil
		}}, nil
	}
	if md5ETag(obj) == "" || encrypted(out.ServerSideEncryption, out.SSECustomerAlgorithm) {
		return source.Verifier{}, nil
	}
	return source.Verifier{What: "MD5 ETag", New: md5.New, Verify: func(sum []byte) error { return checkMD5(obj, sum) }}, nil
}

// crc64NVME is the CRC-64/NVME table (reflected polynomial), S3's CRC64NVME.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// md5ETag returns the ETag when it is an MD5 (a single-part upload: 32 hex
// digits, no "-N"), else "".
func md5ETag(obj source.Object) string {
	etag := strings.Trim(obj.ETag, `"`)
	if len(etag) != 32 {
		return ""
	}
	if _, err := hex.DecodeString(etag); err != nil {
		return ""
	}
	return strings.ToLower(etag)
}

func checkMD5(obj source.Object, sum []byte) error {
	if got, etag := hex.EncodeToString(sum), md5ETag(obj); got != etag {
		return retry.Permanent(fmt.Errorf("s3://%s/%s: content MD5 %s does not match the ETag %s: the download is corrupt; nothing is published",
			obj.Bucket, obj.Key, got, etag))
	}
	return nil
}

// classify marks what waiting cannot fix as permanent (DESIGN.md §4):
// SlowDown, 503, 500, RequestTimeout and connection errors are retried;
// access denied, bad credentials, missing bucket or key are not.
func classify(err error, what, doing string) error {
	prefix := doing
	if what != "" {
		prefix = what + ": " + doing
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
			return retry.Permanent(fmt.Errorf("%w: %w", e, source.ErrNotFound))
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
			return retry.Permanent(fmt.Errorf("%w: %w", e, source.ErrNotFound))
		}
		return retry.Permanent(e)
	}
	if errors.As(err, &re) {
		e := fmt.Errorf("%s: HTTP %d", prefix, re.HTTPStatusCode())
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			return retry.Permanent(fmt.Errorf("%w: %w", e, source.ErrNotFound))
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
