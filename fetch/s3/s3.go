// Package s3 is fetch's S3 source (AWS S3 and compatible stores: MinIO,
// Ceph, R2): it lists prefixes, streams objects whole or in ranges, and says
// whether a download can be verified beyond its size. The client — the
// credential chain, endpoint, region discovery, SSE-C and the classification
// of errors — is internal/awss3's, shared with seed's s3:// archives.
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
	"path"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/awss3"
	"github.com/initbox/initbox/internal/retry"
)

// Options configure the S3 source (internal/awss3 shares them with seed).
type Options struct{ awss3.Options }

// Provider registers s3:// with fetch.
var Provider = source.Provider{
	Scheme:  "s3",
	Objects: true,
	Options: func() source.Options { return &Options{} },
}

// New makes the source from the options and the command's TLS settings.
func (o *Options) New(ctx context.Context, env source.Env, load bool) (source.Source, error) {
	opts := o.Options
	if !opts.TLS.Given() { // the source's own TLS settings win over the command's
		opts.TLS = env.TLS
	}
	return New(ctx, opts, load)
}

// Source reads from S3.
type Source struct {
	c *awss3.Client
}

var _ source.ObjectSource = (*Source)(nil)

// New configures the client. Without load it only checks the options.
func New(ctx context.Context, opts awss3.Options, load bool) (*Source, error) {
	c, err := awss3.New(ctx, opts, load)
	if err != nil {
		return nil, err
	}
	return &Source{c: c}, nil
}

// CheckRef refuses what S3 references cannot mean.
func (s *Source) CheckRef(ref source.Ref) error {
	switch {
	case ref.Key != "" || ref.As != "" || ref.Default != nil:
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
func (s *Source) Open(ctx context.Context) error { return s.c.Open(ctx) }

// Close releases nothing: S3 credentials are not sessions.
func (s *Source) Close(context.Context) error { return nil }

// List returns the objects a reference names.
func (s *Source) List(ctx context.Context, ref source.Ref, max int) ([]source.Object, error) {
	bucket, key := ref.URL.Host, strings.TrimPrefix(ref.URL.Path, "/")
	c, err := s.c.For(ctx, bucket)
	if err != nil {
		return nil, err
	}
	if !isPrefix(ref) {
		in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if v := ref.URL.Query().Get("versionId"); v != "" {
			in.VersionId = aws.String(v)
		}
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.c.SSEC()
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
	for pages := 0; p.HasMorePages(); pages++ {
		// Every page but a store's last holds at least one key: more pages
		// than objects allowed is a listing that does not end.
		if pages > max {
			return nil, retry.Permanent(fmt.Errorf("listing the prefix: more than %d pages; the store's listing does not end: %w", max, source.ErrTooMany))
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "", "listing the prefix")
		}
		if len(objs)+len(page.Contents) > max {
			return nil, retry.Permanent(fmt.Errorf("more than %d objects under the prefix (--max-objects): %w", max, source.ErrTooMany))
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
	c, err := s.c.For(ctx, obj.Bucket)
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
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.c.SSEC()
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
	want := obj.Size - off
	if n >= 0 {
		want = n
	}
	buf := bufPool.Get().(*[]byte)
	// Never more than the listing said: one byte more tells the difference.
	copied, err := io.CopyBuffer(w, io.LimitReader(out.Body, want+1), *buf)
	bufPool.Put(buf)
	if err != nil {
		if awss3.IsChecksumMismatch(err) {
			return info, retry.Permanent(fmt.Errorf("s3://%s/%s: %w; the download is corrupt; nothing is published", obj.Bucket, obj.Key, err))
		}
		return info, fmt.Errorf("s3://%s/%s: reading: %w", obj.Bucket, obj.Key, err)
	}
	if copied > want {
		return info, retry.Permanent(fmt.Errorf("s3://%s/%s: the store sends more than the %d bytes it listed; refused", obj.Bucket, obj.Key, want))
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
	c, err := s.c.For(ctx, obj.Bucket)
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
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.c.SSEC()
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

// classify is awss3.Classify, with a missing object marked as fetch's
// source.ErrNotFound (an #optional reference is then a warning). The mark
// goes inside a Permanent, which retry.Do unwraps.
func classify(err error, what, doing string) error {
	err = awss3.Classify(err, what, doing)
	if errors.Is(err, awss3.ErrNotFound) {
		return retry.Permanent(fmt.Errorf("%w%.0w", err, source.ErrNotFound)) // %.0w: wrapped, not printed
	}
	return err
}
