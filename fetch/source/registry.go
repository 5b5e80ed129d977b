package source

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/initbox/initbox/internal/tlsconfig"
)

// A Provider is one kind of source. It lives in a package of its own
// (fetch/vault) and joins fetch through a build-tagged file of package
// fetch with one line, func init() { source.Register(vault.Provider) }, so
// that a build tag (initbox_no_vault) leaves it and its client out.
type Provider struct {
	// Scheme is the references' scheme: vault://, s3://.
	Scheme string
	// Objects says the source is an ObjectSource (streamed into files as
	// they are), not a SecretSource (values merged into one output).
	Objects bool
	// RefOptions are the options after # that this source reads, beyond
	// the ones every source has (key=, as=, optional, default=): a bare
	// name such as "write", or "name=" for one that takes a value. The
	// source reads them from Ref.Options in CheckRef.
	RefOptions []string
	// Options returns the source's options at their defaults. What it
	// returns also implements clix.Flagger (in its package's cli.go), so that
	// the command line fills it.
	Options func() Options
}

// Options are one source's own settings (Vault's address and login, S3's
// endpoint).
type Options interface {
	// New makes the source. Without load it only checks the options: no
	// file is read and nothing is sent.
	New(ctx context.Context, env Env, load bool) (Source, error)
}

// Env is what every source of a command shares.
type Env struct {
	TLS tlsconfig.Options
}

var providers = map[string]Provider{}

// Register adds a source; a scheme registered twice is a programming error.
func Register(p Provider) {
	if _, dup := providers[p.Scheme]; dup {
		panic("fetch/source: " + p.Scheme + " registered twice")
	}
	providers[p.Scheme] = p
}

// Lookup returns the provider of a scheme.
func Lookup(scheme string) (Provider, bool) {
	p, ok := providers[scheme]
	return p, ok
}

// Providers returns every registered provider, by scheme.
func Providers() []Provider {
	var all []Provider
	for _, s := range slices.Sorted(maps.Keys(providers)) {
		all = append(all, providers[s])
	}
	return all
}

// Schemes lists the schemes of this build for messages: "s3://, vault://".
func Schemes() string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(providers)) {
		s = append(s, k+"://")
	}
	return strings.Join(s, ", ")
}

// unknownScheme is the error for a reference no provider reads.
func unknownScheme(display, scheme string) error {
	return fmt.Errorf("reference %s: unknown scheme %q; this build fetches from %s", display, scheme, Schemes())
}
