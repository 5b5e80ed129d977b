// Command testbin is the small helper the e2e tests run in containers (it is
// not initbox, and is never shipped):
//
//	testbin pause                        hold a pod's network namespace until SIGTERM
//	testbin listen -after 5s -addr :5432 listen after a delay; log the moment it listens
//	testbin pg -url postgres://…         connect once (no retry), run a query, exit 0 or 1
//	testbin s3put -endpoint URL BUCKET KEY=CONTENT…  create the bucket, put the objects
//	testbin s3put -tgz KEY BUCKET NAME=CONTENT…        put one tar.gz of those entries
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5/pgconn"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testbin pause | listen [-after D] [-addr A] [-http]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pause":
		// As PID 1, SIGTERM has no default action: handle it, like k8s pause.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
	case "listen":
		fs := flag.NewFlagSet("listen", flag.ExitOnError)
		after := fs.Duration("after", 0, "wait this long before listening")
		addr := fs.String("addr", ":5432", "address to listen on")
		useHTTP := fs.Bool("http", false, "serve HTTP 200 \"ok\" instead of bare TCP")
		fs.Parse(os.Args[2:])
		fmt.Printf("started at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
		time.Sleep(*after)
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("listening at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
		go func() {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
			<-ch
			os.Exit(0)
		}()
		if *useHTTP {
			http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
			return
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			c.Close()
		}
	case "pg":
		fs := flag.NewFlagSet("pg", flag.ExitOnError)
		url := fs.String("url", os.Getenv("DATABASE_URL"), "postgres:// URL")
		fs.Parse(os.Args[2:])
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgconn.Connect(ctx, *url)
		if err != nil {
			fmt.Println("first attempt failed:", err)
			os.Exit(1)
		}
		res, err := conn.Exec(ctx, "SELECT current_user || ' on ' || current_database()").ReadAll()
		if err != nil || len(res) == 0 || len(res[0].Rows) == 0 {
			fmt.Println("query failed:", err)
			os.Exit(1)
		}
		fmt.Printf("connected on the first attempt as %s at %s\n", res[0].Rows[0][0], time.Now().UTC().Format(time.RFC3339Nano))
		conn.Close(ctx)
	case "s3put":
		fs := flag.NewFlagSet("s3put", flag.ExitOnError)
		endpoint := fs.String("endpoint", "http://minio:9000", "S3 endpoint")
		tgz := fs.String("tgz", "", "put one tar.gz at this key holding the NAME=CONTENT entries instead")
		fs.Parse(os.Args[2:])
		objects := fs.Args()[1:]
		if *tgz != "" {
			b, err := tarGz(objects)
			if err != nil {
				fmt.Fprintln(os.Stderr, "s3put:", err)
				os.Exit(1)
			}
			objects = []string{*tgz + "=" + string(b)}
		}
		if err := s3put(*endpoint, fs.Arg(0), objects); err != nil {
			fmt.Fprintln(os.Stderr, "s3put:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// s3put creates a bucket (if needed) and puts KEY=CONTENT objects, with the
// credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. It retries for
// a while: it runs next to a store that may still be starting.
func s3put(endpoint, bucket string, objects []string) error {
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), "")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var owned *types.BucketAlreadyOwnedByYou
		if err == nil || errors.As(err, &owned) {
			break
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, o := range objects {
		k, v, _ := strings.Cut(o, "=")
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(v)}); err != nil {
			return err
		}
		fmt.Printf("put s3://%s/%s (%d bytes)\n", bucket, k, len(v))
	}
	return nil
}

// tarGz builds a tar.gz of NAME=CONTENT entries (mode 0644; a NAME ending in
// "*" is made executable, without the star).
func tarGz(entries []string) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		name, body, _ := strings.Cut(e, "=")
		mode := int64(0o644)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, mode = n, 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
