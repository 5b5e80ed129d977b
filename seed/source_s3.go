//go:build !initbox_no_s3

package seed

import (
	"github.com/initbox/initbox/seed/s3"
	"github.com/initbox/initbox/seed/source"
)

func init() { source.Register(s3.Provider) }
