//go:build !initbox_no_git

package seed

import (
	"github.com/initbox/initbox/seed/git"
	"github.com/initbox/initbox/seed/source"
)

func init() { source.Register(git.Provider) }
