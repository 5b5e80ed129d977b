package s3

import (
	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/awss3"
)

// Flags binds the S3 options (--s3-…).
func (o *Options) Flags(command string) []cli.Flag { return awss3.Flags(command, &o.Options) }
