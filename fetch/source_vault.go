//go:build !initbox_no_vault

package fetch

import (
	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/fetch/vault"
)

func init() { source.Register(vault.Provider) }
