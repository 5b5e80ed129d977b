// Package source defines what `seed` needs from where a volume's content
// comes from, and the registry through which each source that needs a
// client library — one package of its own (seed/git, seed/s3), with its
// options and flags — joins the command. A directory, a local archive and
// an http(s):// archive are built into seed; a build tag leaves the others
// and their libraries out.
//
// There are two kinds of source: a Tree writes its entries itself (a git
// commit), an Archive hands seed a stream of bytes that seed unpacks (an
// object in S3).
package source

import (
	"context"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/initbox/initbox/internal/tlsconfig"
)

// Kind is what an entry is.
type Kind int

// The kinds of entries a tree holds; anything else is refused where it is
// read.
const (
	File Kind = iota
	Dir
	Symlink
)

// Entry is one file, directory or link of a source, by its name there.
type Entry struct {
	Name string // slash-separated, as in the source; the Writer checks it
	Kind Kind
	Mode fs.FileMode
	Link string    // a link's target, as the source has it
	Body io.Reader // a file's content
	Size int64     // a file's size when known, else -1
}

// A Writer takes a source's entries into the staged version: it maps names
// (--strip-components, --subdir), refuses what could escape or is not a
// plain file, link or directory, and counts against the caps.
type Writer interface {
	Put(Entry) error
	// Scratch returns a private directory on the target's filesystem for
	// what a source must hold on disk while it writes (a clone's objects):
	// it is removed before the publish.
	Scratch() (string, error)
	// Budget is how many bytes are left under --max-bytes: a source caps
	// what it downloads beside the entries (a clone's pack) with it.
	Budget() int64
}

// A Source is where a seed's content comes from.
type Source interface {
	// String is the source for logs and the marker, redacted.
	String() string
}

// A Tree writes its content entry by entry (a git commit).
type Tree interface {
	Source
	// Resolve says what the content is before any of it is fetched (a
	// commit: digest "git:HASH", ref the full name of the branch or tag,
	// "" for a hash), so that a re-run at the same content stops there.
	// Retried; errors marked retry.Permanent are not.
	Resolve(ctx context.Context) (digest, ref string, err error)
	// Write writes the resolved content. Errors marked retry.Permanent
	// are not retried.
	Write(ctx context.Context, digest, ref string, w Writer) error
}

// An Archive is a stream of archive bytes seed unpacks (an object).
type Archive interface {
	Source
	// Name is what the format is told by (a key's base name: app.tar.gz).
	Name() string
	// Open starts reading. An error of Open or of a read is retried unless
	// marked retry.Permanent (a missing object, a checksum that does not
	// match): a download that broke is started again.
	Open(ctx context.Context) (io.ReadCloser, error)
}

// A Provider is one kind of source. It lives in a package of its own
// (seed/git) and joins seed through a build-tagged file of package seed
// with one line, func init() { source.Register(git.Provider) }.
type Provider struct {
	// Name names the provider in messages and flags: git, s3.
	Name string
	// Claims tells whether a SOURCE argument is this provider's
	// (git+https://…, s3://…). The first provider, in name order, that
	// claims it reads it; what no provider claims is a path or an
	// http(s):// archive.
	Claims func(src string) bool
	// Options returns the source's options at their defaults. What it
	// returns also implements clix.Flagger (its package's cli.go).
	Options func() Options
}

// Options are one source's own settings.
type Options interface {
	// New checks src and the options, without reading or sending
	// anything, and returns the source.
	New(src string, env Env) (Source, error)
	// Set names the flags given (--git-ref), so that seed refuses them
	// for a source of another kind.
	Set() []string
}

// Env is what every source of a seed shares.
type Env struct {
	TLS tlsconfig.Options
}

var providers = map[string]Provider{}

// Register adds a provider; a name registered twice is a programming error.
func Register(p Provider) {
	if _, dup := providers[p.Name]; dup {
		panic("seed/source: " + p.Name + " registered twice")
	}
	providers[p.Name] = p
}

// Providers returns every registered provider, by name.
func Providers() []Provider {
	var all []Provider
	for _, n := range slices.Sorted(maps.Keys(providers)) {
		all = append(all, providers[n])
	}
	return all
}

// Find returns the provider that claims src.
func Find(src string) (Provider, bool) {
	for _, p := range Providers() {
		if p.Claims(src) {
			return p, true
		}
	}
	return Provider{}, false
}

// Names lists the providers of this build for messages.
func Names() string {
	return strings.Join(slices.Sorted(maps.Keys(providers)), ", ")
}
