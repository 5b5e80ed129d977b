package fetch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	fetchs3 "github.com/initbox/initbox/fetch/s3"
	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/awss3"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/internal/tlsconfig"
)

type minioEnv struct {
	*testserver.MinIO
	s3  *s3.Client
	ca  string
	ctx context.Context
}

func startMinIO(t *testing.T, withTLS bool) *minioEnv {
	t.Helper()
	var o testserver.MinIOOptions
	env := &minioEnv{ctx: t.Context()}
	if withTLS {
		pki := testpki.New(t, "127.0.0.1", "localhost")
		o = testserver.MinIOOptions{TLSCert: pki.ServerCert, TLSKey: pki.ServerKey, TLSCA: pki.CAFile}
		env.ca = pki.CAFile
	}
	env.MinIO = testserver.StartMinIO(t, o)
	t.Setenv("AWS_ACCESS_KEY_ID", testserver.MinIOUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testserver.MinIOPassword)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	so := s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(env.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")}
	if withTLS {
		cfg, err := tlsOpts(env.ca).Config(t.Context())
		must(t, err)
		so.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	env.s3 = s3.New(so)
	return env
}

func (m *minioEnv) bucket(t *testing.T, name string, versioned bool) {
	t.Helper()
	_, err := m.s3.CreateBucket(m.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	must(t, err)
	if versioned {
		_, err = m.s3.PutBucketVersioning(m.ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
		must(t, err)
	}
}

func (m *minioEnv) put(t *testing.T, bucket, key string, body []byte) string {
	t.Helper()
	out, err := m.s3.PutObject(m.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	must(t, err)
	return aws.ToString(out.VersionId)
}

func (m *minioEnv) opts() awss3.Options {
	return awss3.Options{Endpoint: m.Endpoint, TLS: tlsOpts(m.ca)}
}

func tlsOpts(ca string) tlsconfig.Options { return tlsconfig.Options{CAFile: ca} }

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "..") || strings.HasPrefix(filepath.Base(rel), "..") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if d.Type()&os.ModeSymlink != 0 {
				return filepath.WalkDir(p+"/", func(q string, e os.DirEntry, err error) error {
					if err == nil && !e.IsDir() {
						b, _ := os.ReadFile(q)
						r, _ := filepath.Rel(dir, q)
						got[r] = string(b)
					}
					return err
				})
			}
			return nil
		}
		b, _ := os.ReadFile(p)
		got[rel] = string(b)
		return nil
	})
	return got
}

func TestS3SingleObject(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "config", false)
	body := []byte("server:\n  port: 8080\n")
	m.put(t, "config", "app/app.yaml", body)
	out := filepath.Join(t.TempDir(), "app.yaml")
	logs := testlog.Capture(t)
	must(t, run(t, Config{Refs: []string{"s3://config/app/app.yaml"}, Out: out, Mode: 0o644, Sources: s3Source(m.opts())}))
	if b, _ := os.ReadFile(out); !bytes.Equal(b, body) {
		t.Fatalf("content %q", b)
	}
	if !strings.Contains(logs.String(), "source=EnvConfigCredentials") {
		t.Errorf("the credential source is not logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), testserver.MinIOPassword) {
		t.Error("the secret key is in the log")
	}
	before, _ := os.Stat(out)
	// Unchanged: not downloaded again, the file left as it is.
	must(t, run(t, Config{Refs: []string{"s3://config/app/app.yaml"}, Out: out, Mode: 0o644, Sources: s3Source(m.opts())}))
	after, _ := os.Stat(out)
	if !os.SameFile(before, after) || !strings.Contains(logs.String(), "unchanged, not downloaded") {
		t.Errorf("an unchanged object was downloaded again:\n%s", logs)
	}
	// Changed: downloaded again.
	m.put(t, "config", "app/app.yaml", []byte("server: {port: 9090}\n"))
	must(t, run(t, Config{Refs: []string{"s3://config/app/app.yaml"}, Out: out, Mode: 0o644, Sources: s3Source(m.opts())}))
	if b, _ := os.ReadFile(out); string(b) != "server: {port: 9090}\n" {
		t.Errorf("after a change: %q", b)
	}
}

// 1,000 objects in nested prefixes: published as one tree; a re-run
// downloads only what changed.
func TestS3PrefixOfThousandObjects(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "data", false)
	want := map[string]string{}
	for i := range 1000 {
		name := fmt.Sprintf("d%02d/e%d/obj-%04d.txt", i%10, i%3, i)
		want[name] = fmt.Sprintf("object %d\n", i)
		m.put(t, "data", "set/"+name, []byte(want[name]))
	}
	m.put(t, "data", "other/skip.txt", []byte("not under the prefix"))
	out := filepath.Join(t.TempDir(), "set")
	logs := testlog.Capture(t)
	must(t, run(t, Config{Refs: []string{"s3://data/set/"}, Out: out, Sources: s3Source(m.opts())}))
	got := readTree(t, out)
	if len(got) != 1000 {
		t.Fatalf("%d files, want 1000", len(got))
	}
	for n, v := range want {
		if got[n] != v {
			t.Fatalf("%s = %q, want %q", n, got[n], v)
		}
	}
	var man manifest
	b, _ := os.ReadFile(filepath.Join(out, "..data", manifestName))
	must(t, json.Unmarshal(b, &man))
	if len(man.Objects) != 1000 || man.Objects[0].SHA256 == "" || man.Objects[0].ETag == "" {
		t.Fatalf("manifest: %d objects, first %+v", len(man.Objects), man.Objects[0])
	}

	must(t, run(t, Config{Refs: []string{"s3://data/set/"}, Out: out, Sources: s3Source(m.opts())}))
	if !strings.Contains(logs.String(), "changed=false downloaded=0 reused=1000") {
		t.Errorf("an unchanged re-run downloaded something:\n%s", lastLines(logs.String(), 3))
	}
	m.put(t, "data", "set/d00/e0/obj-0000.txt", []byte("changed\n"))
	must(t, run(t, Config{Refs: []string{"s3://data/set/"}, Out: out, Sources: s3Source(m.opts())}))
	if !strings.Contains(logs.String(), "changed=true downloaded=1 reused=999") {
		t.Errorf("re-run after one change:\n%s", lastLines(logs.String(), 3))
	}
	if got := readTree(t, out); got["d00/e0/obj-0000.txt"] != "changed\n" || len(got) != 1000 {
		t.Errorf("after the change: %q, %d files", got["d00/e0/obj-0000.txt"], len(got))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestS3IncludeExclude(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "models", false)
	for _, k := range []string{"resnet/model.onnx", "resnet/README.md", "resnet/v2/model.onnx", "resnet/v2/notes.txt", "resnet/tmp/model.onnx"} {
		m.put(t, "models", k, []byte(k))
	}
	out := filepath.Join(t.TempDir(), "m")
	must(t, run(t, Config{Refs: []string{"s3://models/resnet/"}, Out: out, Include: []string{"**/*.onnx", "*.onnx"}, Exclude: []string{"tmp/**"}, Sources: s3Source(m.opts())}))
	got := readTree(t, out)
	if len(got) != 2 || got["model.onnx"] == "" || got["v2/model.onnx"] == "" {
		t.Errorf("got %v", got)
	}
}

func TestS3Versioned(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "ver", true)
	v1 := m.put(t, "ver", "app.conf", []byte("v1"))
	m.put(t, "ver", "app.conf", []byte("v2"))
	if v1 == "" {
		t.Fatal("no version id: versioning is off")
	}
	out := filepath.Join(t.TempDir(), "app.conf")
	must(t, run(t, Config{Refs: []string{"s3://ver/app.conf?versionId=" + v1}, Out: out, Sources: s3Source(m.opts())}))
	if b, _ := os.ReadFile(out); string(b) != "v1" {
		t.Errorf("pinned version: %q", b)
	}
	sc, _ := os.ReadFile(sidecar(out))
	if !strings.Contains(string(sc), v1) {
		t.Errorf("the manifest lacks the version id:\n%s", sc)
	}
	must(t, run(t, Config{Refs: []string{"s3://ver/app.conf"}, Out: out, Sources: s3Source(m.opts())}))
	if b, _ := os.ReadFile(out); string(b) != "v2" {
		t.Errorf("latest: %q", b)
	}
}

func TestS3SSEC(t *testing.T) {
	m := startMinIO(t, true)
	m.bucket(t, "secure", false)
	key := make([]byte, 32)
	rand.Read(key)
	sum := md5.Sum(key)
	_, err := m.s3.PutObject(m.ctx, &s3.PutObjectInput{Bucket: aws.String("secure"), Key: aws.String("secret.bin"), Body: strings.NewReader("sealed content"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(base64.StdEncoding.EncodeToString(key)),
		SSECustomerKeyMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:]))})
	must(t, err)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
	out := filepath.Join(t.TempDir(), "secret.bin")
	o := m.opts()
	o.SSECKeyFile = keyFile
	must(t, run(t, Config{Refs: []string{"s3://secure/secret.bin"}, Out: out, Sources: s3Source(o)}))
	if b, _ := os.ReadFile(out); string(b) != "sealed content" {
		t.Fatalf("content %q", b)
	}
	start := time.Now()
	err = run(t, Config{Refs: []string{"s3://secure/secret.bin"}, Out: filepath.Join(t.TempDir(), "x"), Sources: s3Source(m.opts())})
	if exitcode.Of(err) != exitcode.Failure || time.Since(start) > 5*time.Second {
		t.Fatalf("without the key: exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
}

func TestS3FailuresAtOnce(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "bkt", false)
	m.put(t, "bkt", "k", []byte("v"))
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ref, want string
		env             map[string]string
	}{
		{"wrong credentials", "s3://bkt/k", "check the AWS credentials", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-Secret-999"}},
		{"missing bucket", "s3://nope-bucket/k", `bucket "nope-bucket" does not exist`, nil},
		{"missing bucket, prefix", "s3://nope-bucket/p/", "NoSuchBucket", nil},
		{"missing key", "s3://bkt/missing", "s3://bkt/missing", nil},
		{"empty prefix", "s3://bkt/none/", "no objects under this prefix", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			start := time.Now()
			err := run(t, Config{Refs: []string{tc.ref}, Out: filepath.Join(dir, "out") + map[bool]string{true: "/", false: ""}[strings.HasSuffix(tc.ref, "/")], Sources: s3Source(m.opts())})
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) || time.Since(start) > 5*time.Second ||
				strings.Count(err.Error(), tc.ref) != 1 {
				t.Fatalf("exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
			}
			if strings.Contains(err.Error(), "wrong-Secret-999") {
				t.Error("the secret key is in the error")
			}
		})
	}
	must(t, run(t, Config{Refs: []string{"s3://bkt/missing#optional"}, Out: filepath.Join(dir, "opt"), Sources: s3Source(m.opts())}))
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed fetches left files: %v", entries)
	}
}

// MinIO down when the fetch starts, up a moment later: retried, succeeds.
func TestS3ServerStartsDuringFetch(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "bkt", false)
	m.put(t, "bkt", "k", []byte("late"))
	m.Stop()
	logs := testlog.Capture(t)
	done := make(chan error, 1)
	out := filepath.Join(t.TempDir(), "k")
	go func() { done <- run(t, Config{Refs: []string{"s3://bkt/k"}, Out: out, Sources: s3Source(m.opts())}) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "connection refused") {
		if time.Now().After(deadline) {
			t.Fatalf("the fetch never met the stopped server:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.Start()
	must(t, <-done)
	if b, _ := os.ReadFile(out); string(b) != "late" {
		t.Errorf("content %q", b)
	}
}

// proxy puts a programmable reverse proxy in front of MinIO. SigV4 signs
// the Host header, which the proxy passes through unchanged.
func proxy(t *testing.T, endpoint string, modify func(*http.Response) error, intercept func(http.ResponseWriter, *http.Request) bool) string {
	target, _ := url.Parse(endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = modify
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if intercept != nil && intercept(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL
}

// 503 SlowDown, as S3 throttles: retried, succeeds.
func TestS3SlowDownIsRetried(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "bkt", false)
	m.put(t, "bkt", "k", []byte("throttled"))
	var n atomic.Int32
	front := proxy(t, m.Endpoint, nil, func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) > 3 {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return true
	})
	logs := testlog.Capture(t)
	out := filepath.Join(t.TempDir(), "k")
	o := m.opts()
	o.Endpoint = front
	must(t, run(t, Config{Refs: []string{"s3://bkt/k"}, Out: out, Sources: s3Source(o)}))
	if b, _ := os.ReadFile(out); string(b) != "throttled" || !strings.Contains(logs.String(), "SlowDown") {
		t.Errorf("content %q; logs:\n%s", b, logs)
	}
}

// Keys are remote input: a listing that names a path outside the target is
// refused, nothing is written outside or published. Legal names download.
func TestS3BadKeys(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "bkt", false)
	m.put(t, "bkt", "p/a..b", []byte("legal"))
	m.put(t, "bkt", "p/good.txt", []byte("good"))
	base := t.TempDir()
	out := filepath.Join(base, "target")
	// A first, good version.
	must(t, run(t, Config{Refs: []string{"s3://bkt/p/"}, Out: out, Sources: s3Source(m.opts())}))
	if got := readTree(t, out); got["a..b"] != "legal" || got["good.txt"] != "good" {
		t.Fatalf("good listing: %v", got)
	}
	for _, bad := range []string{"p/../x", "p/a/../../x", "p/prefix/..", "p//abs", `p/a\b`, "p/x\x00y", "p/\uff0e\uff0e/x", "p/" + strings.Repeat("n", 300), "p/..data"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			// MinIO refuses to store such names; a store that does (or a
			// man in the middle) sends them in the listing.
			front := proxy(t, m.Endpoint, func(r *http.Response) error {
				if r.Request.Method != http.MethodGet || r.Request.URL.Query().Get("list-type") != "2" {
					return nil
				}
				b, _ := io.ReadAll(r.Body)
				esc := new(strings.Builder)
				xmlEscape(esc, bad)
				b = bytes.Replace(b, []byte("<Key>p/good.txt</Key>"), []byte("<Key>"+esc.String()+"</Key>"), 1)
				r.Body = io.NopCloser(bytes.NewReader(b))
				r.ContentLength = int64(len(b))
				r.Header.Set("Content-Length", fmt.Sprint(len(b)))
				return nil
			}, nil)
			o := m.opts()
			o.Endpoint = front
			err := run(t, Config{Refs: []string{"s3://bkt/p/"}, Out: out, Sources: s3Source(o)})
			// A NUL cannot even be written in XML: the SDK refuses the
			// listing before initbox sees the key.
			if exitcode.Of(err) == 0 || (!strings.Contains(err.Error(), "key ") && !strings.Contains(bad, "\x00")) {
				t.Fatalf("err = %v, want the key refused", err)
			}
			if got := readTree(t, out); got["a..b"] != "legal" || got["good.txt"] != "good" || len(got) != 2 {
				t.Errorf("the published tree changed: %v", got)
			}
			if entries, _ := os.ReadDir(base); len(entries) != 1 {
				t.Errorf("something was written next to the target: %v", entries)
			}
		})
	}
}

func xmlEscape(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r < 0x20:
			fmt.Fprintf(b, "&#x%x;", r)
		default:
			b.WriteRune(r)
		}
	}
}

// A key that is both a file and a directory ("a" and "a/b"): S3 allows
// both; MinIO silently keeps one, so the listing is rewritten to hold both.
func TestS3FileDirectoryConflict(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "bkt", false)
	m.put(t, "bkt", "p/conf", []byte("file"))
	m.put(t, "bkt", "p/other.yaml", []byte("nested"))
	front := proxy(t, m.Endpoint, func(r *http.Response) error {
		if r.Request.URL.Query().Get("list-type") != "2" {
			return nil
		}
		b, _ := io.ReadAll(r.Body)
		b = bytes.Replace(b, []byte("<Key>p/other.yaml</Key>"), []byte("<Key>p/conf/app.yaml</Key>"), 1)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}, nil)
	o := m.opts()
	o.Endpoint = front
	err := run(t, Config{Refs: []string{"s3://bkt/p/"}, Out: filepath.Join(t.TempDir(), "o"), Sources: s3Source(o)})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "needs a directory") {
		t.Fatalf("err = %v", err)
	}
}

// A corrupt whole download (a byte flipped in transit) fails and the old
// version stays published: checked by the SDK against a stored full-object
// checksum (S3 stores one for every new object), or by initbox against an
// MD5 ETag when the object has none (MinIO without a checksummed upload).
func TestS3CorruptObjectPublishesNothing(t *testing.T) {
	m := startMinIO(t, false)
	md5Only := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		Credentials:                credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")})
	for _, tc := range []struct {
		name   string
		client *s3.Client
		algo   types.ChecksumAlgorithm
		by     string // what verified the good download
		want   string // in the error of the corrupt one
	}{
		{"stored-checksum", m.s3, types.ChecksumAlgorithmCrc32c, "stored CRC32C checksum", "checksum did not match"},
		{"md5-etag", md5Only, "", "MD5 ETag", "does not match the ETag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bkt := "bkt-" + tc.name
			m.bucket(t, bkt, false)
			put := func(body []byte) {
				_, err := tc.client.PutObject(m.ctx, &s3.PutObjectInput{Bucket: aws.String(bkt), Key: aws.String("p/data.bin"), Body: bytes.NewReader(body),
					ChecksumAlgorithm: tc.algo})
				must(t, err)
			}
			put(bytes.Repeat([]byte("0123456789"), 1000))
			out := filepath.Join(t.TempDir(), "o")
			logs := testlog.Capture(t)
			must(t, run(t, Config{Refs: []string{"s3://" + bkt + "/p/"}, Out: out, Sources: s3Source(m.opts())}))
			if !strings.Contains(logs.String(), `by="`+tc.by+`"`) {
				t.Errorf("the good download was not verified by %s:\n%s", tc.by, logs)
			}
			put(bytes.Repeat([]byte("abcdefghij"), 1000))
			front := proxy(t, m.Endpoint, func(r *http.Response) error {
				if r.Request.Method != http.MethodGet || r.Request.URL.Query().Has("list-type") {
					return nil
				}
				b, _ := io.ReadAll(r.Body)
				if len(b) > 100 {
					b[100] ^= 0xff
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
				return nil
			}, nil)
			o := m.opts()
			o.Endpoint = front
			err := run(t, Config{Refs: []string{"s3://" + bkt + "/p/"}, Out: out, Sources: s3Source(o)})
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing is published") {
				t.Fatalf("err = %v", err)
			}
			if got := readTree(t, out); got["data.bin"] != strings.Repeat("0123456789", 1000) {
				t.Error("a corrupt download replaced the good version")
			}
		})
	}
}

// A large object comes in parallel ranges, is hashed in order, and lands
// byte-exact.
func TestS3LargeObjectInRanges(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "big", false)
	body := make([]byte, 23<<20+12345)
	rand.Read(body)
	m.put(t, "big", "blob.bin", body)
	out := filepath.Join(t.TempDir(), "blob.bin")
	var ranged atomic.Int32
	front := proxy(t, m.Endpoint, nil, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		return false
	})
	o := m.opts()
	o.Endpoint = front
	must(t, run(t, Config{Refs: []string{"s3://big/blob.bin"}, Out: out, PartSize: 5 << 20, Concurrency: 4, Sources: s3Source(o)}))
	if n := ranged.Load(); n != 5 {
		t.Errorf("%d ranged GETs, want 5 parts of 5 MiB", n)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, body) {
		t.Fatalf("content differs (%d bytes, want %d)", len(got), len(body))
	}
	sum := sha256.Sum256(body)
	sc, _ := os.ReadFile(sidecar(out))
	if !strings.Contains(string(sc), hex.EncodeToString(sum[:])) {
		t.Errorf("the sidecar's sha256 is wrong:\n%s", sc)
	}
}

// Ranged parts are not checked by the SDK: the object's stored full-object
// checksum (asked for with a HEAD) is computed over the whole file, for every
// algorithm S3 stores; without one, a single-part ETag's MD5. A byte flipped
// in one part fails the download and keeps the published file.
func TestS3RangedVerifiedByStoredChecksum(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "big", false)
	body := make([]byte, 11<<20+777)
	rand.Read(body)
	md5Only := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		Credentials:                credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")})
	for _, tc := range []struct {
		algo types.ChecksumAlgorithm
		want string // in the error of a corrupt download
		by   string // in the debug line of a good one
	}{
		{types.ChecksumAlgorithmCrc64nvme, "CRC64NVME", "stored CRC64NVME checksum"},
		{types.ChecksumAlgorithmCrc32c, "CRC32C", "stored CRC32C checksum"},
		{types.ChecksumAlgorithmCrc32, "CRC32 ", "stored CRC32 checksum"},
		{types.ChecksumAlgorithmSha256, "SHA-256", "stored SHA-256 checksum"},
		{types.ChecksumAlgorithmSha1, "SHA-1", "stored SHA-1 checksum"},
		{"", "does not match the ETag", "MD5 ETag"},
	} {
		t.Run(cmp.Or(string(tc.algo), "MD5-ETag"), func(t *testing.T) {
			key := "blob-" + string(tc.algo)
			in := &s3.PutObjectInput{Bucket: aws.String("big"), Key: aws.String(key), Body: bytes.NewReader(body), ChecksumAlgorithm: tc.algo}
			c := m.s3
			if tc.algo == "" {
				c = md5Only
			}
			_, err := c.PutObject(m.ctx, in)
			must(t, err)
			out := filepath.Join(t.TempDir(), "blob.bin")
			o := m.opts()
			logs := testlog.Capture(t)
			must(t, run(t, Config{Refs: []string{"s3://big/" + key}, Out: out, PartSize: 5 << 20, Sources: s3Source(o)}))
			if got, _ := os.ReadFile(out); !bytes.Equal(got, body) {
				t.Fatal("content differs")
			}
			if !strings.Contains(logs.String(), `by="`+tc.by+`"`) {
				t.Errorf("not verified by %s:\n%s", tc.by, logs)
			}
			// The object changes (so the sidecar does not skip it), and a byte
			// of its second part flips in transit.
			body2 := bytes.Clone(body)
			body2[0] ^= 1
			in.Body = bytes.NewReader(body2)
			_, err = c.PutObject(m.ctx, in)
			must(t, err)
			front := proxy(t, m.Endpoint, func(r *http.Response) error {
				if !strings.HasPrefix(r.Request.Header.Get("Range"), "bytes=5242880-") {
					return nil
				}
				b, _ := io.ReadAll(r.Body)
				b[1000] ^= 0xff
				r.Body = io.NopCloser(bytes.NewReader(b))
				return nil
			}, nil)
			o.Endpoint = front
			err = run(t, Config{Refs: []string{"s3://big/" + key}, Out: out, PartSize: 5 << 20, Sources: s3Source(o)})
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing is published") {
				t.Fatalf("err = %v", err)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, body) {
				t.Error("a corrupt download replaced the good file")
			}
		})
	}
}

// A transfer that lasts logs progress lines: objects done of total, bytes,
// rate and ETA.
func TestS3ProgressLines(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "bkt", false)
	body := make([]byte, 1<<20)
	rand.Read(body)
	m.put(t, "bkt", "p/slow.bin", body)
	m.put(t, "bkt", "p/small.txt", []byte("x"))
	// The proxy hands the object out in 64 KiB pieces, 25 ms apart (~0.4 s).
	front := proxy(t, m.Endpoint, func(r *http.Response) error {
		if r.Request.Method != http.MethodGet || !strings.HasSuffix(r.Request.URL.Path, "slow.bin") {
			return nil
		}
		pr, pw := io.Pipe()
		go func(src io.ReadCloser) {
			defer src.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := io.ReadFull(src, buf)
				if n > 0 {
					time.Sleep(25 * time.Millisecond)
					pw.Write(buf[:n])
				}
				if err != nil {
					pw.Close()
					return
				}
			}
		}(r.Body)
		r.Body = pr
		return nil
	}, nil)
	o := m.opts()
	o.Endpoint = front
	logs := testlog.Capture(t)
	must(t, run(t, Config{Refs: []string{"s3://bkt/p/"}, Out: filepath.Join(t.TempDir(), "o"), Sources: s3Source(o), ProgressEvery: 100 * time.Millisecond}))
	re := regexp.MustCompile(`msg=progress objects=[01]/2 bytes="[0-9.]+ (B|KiB|MiB)/1.0 MiB" rate="[0-9.]+ (B|KiB|MiB)/s" eta=\d+(ms|s)`)
	if n := len(re.FindAllString(logs.String(), -1)); n < 2 {
		t.Errorf("%d progress lines, want at least 2:\n%s", n, logs)
	}
}

func s3Source(o awss3.Options) map[string]source.Options {
	return map[string]source.Options{"s3": &fetchs3.Options{Options: o}}
}
