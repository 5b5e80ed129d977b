//go:build !initbox_no_s3

package fetch

import (
	"context"

	"github.com/initbox/initbox/fetch/s3"
	"github.com/initbox/initbox/fetch/source"
)

func init() {
	sourceFactories["s3"] = func(ctx context.Context, c Config, load bool) (source.Source, error) {
		return s3.New(ctx, c.S3, load)
	}
}
