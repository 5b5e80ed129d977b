// Package s3 is seed's s3:// source: one archive object, streamed from S3
// or a compatible store (MinIO, Ceph, R2) into seed's extraction. The
// client — the credential chain, endpoint, region discovery, SSE-C and the
// classification of errors — is internal/awss3's, shared with fetch.
//
//	s3://artifacts/models-v3.tar.zst
//	s3://artifacts/site.tar.gz?versionId=3HL4kqtJlcpXroDTDmJ
package s3

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/initbox/initbox/internal/awss3"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/seed/source"
)

// Options configure the S3 source.
type Options struct{ awss3.Options }

// Provider registers s3:// archives with seed.
var Provider = source.Provider{
	Name:    "s3",
	Claims:  func(src string) bool { return strings.HasPrefix(src, "s3://") },
	Options: func() source.Options { return &Options{} },
}

// New checks the reference and the options.
func (o *Options) New(src string, env source.Env) (source.Source, error) {
	u, err := url.Parse(src)
	display := redact.URLString(src)
	switch {
	case err != nil || u.Host == "":
		return nil, fmt.Errorf("source %s: write it as s3://BUCKET/KEY", display)
	case u.Fragment != "":
		return nil, fmt.Errorf("source %s: s3:// archives take no #options", display)
	case u.Path == "" || strings.HasSuffix(u.Path, "/"):
		return nil, fmt.Errorf("source %s: an s3:// source names one archive object, not a prefix (fetch copies a prefix)", display)
	}
	for k := range u.Query() {
		if k != "versionId" {
			return nil, fmt.Errorf("source %s: unknown parameter ?%s; s3:// takes ?versionId=", display, k)
		}
	}
	opts := o.Options
	if !opts.TLS.Given() { // the source's own TLS settings win over the command's
		opts.TLS = env.TLS
	}
	if _, err := awss3.New(context.Background(), opts, false); err != nil {
		return nil, err
	}
	return &object{opts: opts, bucket: u.Host, key: strings.TrimPrefix(u.Path, "/"), version: u.Query().Get("versionId"), display: display}, nil
}

// object is one archive in a bucket.
type object struct {
	opts                 awss3.Options
	bucket, key, version string
	display              string

	once   sync.Once
	client *awss3.Client
	err    error
}

var _ source.Archive = (*object)(nil)

func (o *object) String() string { return o.display }
func (o *object) Name() string   { return path.Base(o.key) }

// connect loads the AWS configuration and resolves the credentials, once.
func (o *object) connect(ctx context.Context) (*awss3.Client, error) {
	o.once.Do(func() {
		if o.client, o.err = awss3.New(ctx, o.opts, true); o.err != nil {
			o.err = retry.Permanent(o.err)
		}
	})
	if o.err != nil {
		return nil, o.err
	}
	return o.client, o.client.Open(ctx)
}

// Open starts the download. The SDK checks a stored full-object checksum
// as the body streams; a mismatch is not retried.
func (o *object) Open(ctx context.Context) (io.ReadCloser, error) {
	c, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := c.For(ctx, o.bucket)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), ChecksumMode: types.ChecksumModeEnabled}
	if o.version != "" {
		in.VersionId = aws.String(o.version)
	}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = c.SSEC()
	out, err := cl.GetObject(ctx, in)
	if err != nil {
		return nil, awss3.Classify(err, o.display, "downloading")
	}
	return body{out.Body, o.display}, nil
}

// body marks a stored checksum that does not match as permanent.
type body struct {
	io.ReadCloser
	display string
}

func (b body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if awss3.IsChecksumMismatch(err) {
		err = retry.Permanent(fmt.Errorf("%s: %w; the download is corrupt", b.display, err))
	}
	return n, err
}
