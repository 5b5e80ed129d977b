//go:build !initbox_no_vault

package fetch

import (
	"context"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/fetch/vault"
)

func init() {
	sourceFactories["vault"] = func(ctx context.Context, c Config, load bool) (source.Source, error) {
		return vault.New(ctx, c.Vault, load)
	}
}
