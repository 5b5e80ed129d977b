//go:build !initbox_no_s3

package fetch

import (
	"github.com/initbox/initbox/fetch/s3"
	"github.com/initbox/initbox/fetch/source"
)

func init() { source.Register(s3.Provider) }
