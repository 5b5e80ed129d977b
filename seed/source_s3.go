//go:build !initbox_no_s3

package seed

import (
	"context"
	"io"

	"github.com/initbox/initbox/fetch/s3"
	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/retry"
)

func init() {
	openS3 = func(ctx context.Context, c Config) (io.Reader, func(), error) {
		ref, err := source.ParseRef(c.Src)
		if err != nil {
			return nil, nil, retry.Permanent(err)
		}
		src, err := s3.New(ctx, c.S3, true)
		if err != nil {
			return nil, nil, retry.Permanent(err)
		}
		if err := src.CheckRef(ref); err != nil {
			return nil, nil, retry.Permanent(err)
		}
		if err := src.Open(ctx); err != nil {
			return nil, nil, err
		}
		objs, err := src.List(ctx, ref)
		if err != nil {
			return nil, nil, err
		}
		if len(objs) != 1 {
			return nil, nil, retry.Permanent(errOneObject)
		}
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			_, err := src.Get(ctx, objs[0], 0, -1, pw)
			if err != nil {
				err = transportError{err}
			}
			pw.CloseWithError(err)
		}()
		return pr, func() { cancel(); pr.Close() }, nil
	}
}
