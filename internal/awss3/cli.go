package awss3

import (
	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
)

// Flags binds the S3 options of a command (fetch, seed); every flag is
// --s3-… and INITBOX_<COMMAND>_S3_….
func Flags(command string, o *Options) []cli.Flag {
	env := func(flag string) []string { return clix.Env(command, flag) }
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint", Usage: "S3-compatible endpoint, e.g. https://minio:9000 (default: AWS_ENDPOINT_URL_S3, else AWS); implies path-style", EnvVars: env("s3-endpoint"), Destination: &o.Endpoint, Category: "S3"},
		&cli.StringFlag{Name: "s3-region", Usage: "region (default: AWS_REGION, else discovered per bucket)", EnvVars: env("s3-region"), Destination: &o.Region, Category: "S3"},
		&cli.BoolFlag{Name: "s3-path-style", Usage: "put the bucket in the path, not the host name", EnvVars: env("s3-path-style"), Destination: &o.PathStyle, Category: "S3"},
		&cli.StringFlag{Name: "s3-profile", Usage: "shared-config profile (default: AWS_PROFILE)", EnvVars: env("s3-profile"), Destination: &o.Profile, Category: "S3"},
		&cli.BoolFlag{Name: "s3-anonymous", Usage: "send no credentials (public buckets)", EnvVars: env("s3-anonymous"), Destination: &o.Anonymous, Category: "S3"},
		&cli.StringFlag{Name: "s3-sse-c-key-file", Usage: "file with the 256-bit key of SSE-C objects (raw or base64)", EnvVars: env("s3-sse-c-key-file"), Destination: &o.SSECKeyFile, Category: "S3"},
	}
}
