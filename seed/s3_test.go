package seed

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/initbox/initbox/internal/awss3"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testserver"
	seeds3 "github.com/initbox/initbox/seed/s3"
	"github.com/initbox/initbox/seed/source"
)

// An archive on S3 (a real MinIO) is streamed into the target; a missing
// object fails at once.
func TestArchiveFromS3(t *testing.T) {
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	t.Setenv("AWS_ACCESS_KEY_ID", testserver.MinIOUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testserver.MinIOPassword)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")})
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("artifacts")}); err != nil {
		t.Fatal(err)
	}
	data := zst(t, makeTar(t, []tarEntry{{name: "models/a.onnx", body: strings.Repeat("w", 100000)}, {name: "models/labels.txt", body: "cat\ndog\n"}}))
	if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("models-v3.tar.zst"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir() + "/models"
	opts := map[string]source.Options{"s3": &seeds3.Options{Options: awss3.Options{Endpoint: m.Endpoint}}}
	if err := seed(t, Config{Src: "s3://artifacts/models-v3.tar.zst", Target: target, StripComponents: 1, Sources: opts}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, target+"/labels.txt") != "cat\ndog\n" || len(readFile(t, target+"/a.onnx")) != 100000 {
		t.Error("content differs")
	}
	err := seed(t, Config{Src: "s3://artifacts/missing.tar.zst", Target: target, Force: true, Sources: opts})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "NoSuchKey") && !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing object: %v", err)
	}
}
