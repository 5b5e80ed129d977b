package seed

import (
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/internal/watch"
	"github.com/initbox/initbox/seed/source"
)

// Command returns the `seed` command. This file is the only one in the
// package that knows about the command line.
func Command() *cli.Command {
	var c Config
	var chmod, maxBytes string
	var tls tlsconfig.Options
	env := func(flag string) []string { return clix.Env("seed", flag) }
	flags := []cli.Flag{
		&cli.StringFlag{Name: "format", Usage: "archive format: tar, tar.gz, tar.zst or zip (default: from the name)", EnvVars: env("format"), Destination: &c.Format},
		&cli.IntFlag{Name: "strip-components", Usage: "drop this many leading path elements of every entry", EnvVars: env("strip-components"), Destination: &c.StripComponents},
		&cli.StringFlag{Name: "subdir", Usage: "seed only what is below this directory of the source", EnvVars: env("subdir"), Destination: &c.Subdir},
		&cli.StringFlag{Name: "sha256", Usage: "the archive's SHA-256; it must match before anything is published", EnvVars: env("sha256"), Destination: &c.SHA256},
		&cli.BoolFlag{Name: "if-empty", Usage: "seed only an empty target (keep what is there, e.g. user changes)", EnvVars: env("if-empty"), Destination: &c.IfEmpty},
		&cli.BoolFlag{Name: "force", Usage: "seed even when the target already holds this source", EnvVars: env("force"), Destination: &c.Force},
		&cli.StringFlag{Name: "chown", Usage: "uid:gid of everything written (as root; ignored with a note otherwise)", EnvVars: env("chown"), Destination: &c.Chown},
		&cli.StringFlag{Name: "chmod", Usage: "mode of every file (octal; default: each entry's own)", EnvVars: env("chmod"), Destination: &chmod},
		&cli.StringFlag{Name: "max-bytes", Value: "4GiB", Usage: "refuse a source that expands to more bytes (what is written, a sparse file's holes included; a download or a clone counts too)", EnvVars: env("max-bytes"), Destination: &maxBytes},
		&cli.Int64Flag{Name: "max-entries", Value: DefaultMaxEntries, Usage: "refuse a source with more entries (files, directories, links)", EnvVars: env("max-entries"), Destination: &c.MaxEntries},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "overall deadline; 0 waits forever (exit 124 when it runs out)", EnvVars: env("timeout"), Destination: &c.Timeout, Category: "Timing"},
	}
	flags = append(flags, clix.BackoffFlags("seed", &c.Interval, &c.MaxInterval, 250*time.Millisecond, 5*time.Second)...)
	// Each registered source brings its own flags, prefixed with its name.
	c.Sources = map[string]source.Options{}
	for _, p := range source.Providers() {
		o := p.Options()
		c.Sources[p.Name] = o
		if f, ok := o.(clix.Flagger); ok {
			flags = append(flags, f.Flags("seed")...)
		}
	}
	flags = append(flags, clix.TLSFlags("seed", &tls)...)
	var w clix.Watch
	flags = append(flags, clix.WatchFlags("seed", "a git source's ref asked at every --refresh, a new commit published (git-sync's continuous mode)", &w)...)
	return &cli.Command{
		Name:      "seed",
		Usage:     "fill a volume from a directory or an archive (tar, tar.gz, tar.zst, zip; file, https://, s3://), once and atomically",
		ArgsUsage: "SOURCE TARGET",
		UsageText: `initbox seed [flags] SOURCE TARGET
  SOURCE  a directory (e.g. data baked into this image), an archive file, an http(s):// URL, s3://BUCKET/KEY,
          or a git repository (git+https://…, https://…/repo.git, git+ssh://…, git+file://…) with --git-ref
  TARGET  the directory to fill, usually a volume's mount point`,
		Description: `The target is published all or nothing, in the layout of a Kubernetes volume
(a version directory, then an atomic swap of the ..data link): after a kill
at any moment it holds the old complete state or the new one. A marker in the
published version records the source and its SHA-256: a re-run with the same
source does nothing and says so; a changed source re-seeds; --force always
does; --if-empty leaves a non-empty target alone.

Archive entries are remote input: "..", absolute names, links that lead out
(also through chains), files written through a link, hard links, devices and
FIFOs are refused, naming the entry; --max-bytes and --max-entries stop
archives that expand without end.

Examples:
  initbox seed /seed-data /data
  initbox seed https://example.com/site.tar.gz /srv/www --strip-components 1 --sha256 9f86d08…
  initbox seed s3://artifacts/models-v3.tar.zst /models --if-empty
  initbox seed https://github.com/example/site.git /srv/www --git-ref v1.4.2 --subdir public`,
		Flags: flags,
		Action: func(ctx *cli.Context) error {
			args, tail := clix.Args(ctx)
			if len(tail) > 0 || len(args) != 2 {
				return exitcode.Usagef("seed takes SOURCE and TARGET, got %d arguments", len(args)+len(tail))
			}
			c.Src, c.Target = args[0], args[1]
			var err error
			if c.MaxBytes, err = clix.ParseSize(maxBytes); err != nil {
				return exitcode.Usagef("--max-bytes %q: want a size like 4GiB or 500M", maxBytes)
			}
			if chmod != "" {
				m, err := strconv.ParseUint(chmod, 8, 32)
				if err != nil || m > 0o777 || m == 0 {
					return exitcode.Usagef("--chmod %q: want octal permission bits, e.g. 0644", chmod)
				}
				c.Chmod = fs.FileMode(m)
			}
			c.TLS = tls
			c.Watch = w.Get()
			if c.Watch != nil && watch.Planned(ctx.Context) {
				// run --watch watches every step that can; this one cannot.
				if why := c.OnceOnly(); why != "" {
					slog.InfoContext(ctx.Context, "this seed runs once in the watched plan", "target", c.Target, "why", why)
					c.Watch = nil
				}
			}
			if err := c.Validate(); err != nil {
				return exitcode.Usage(err)
			}
			if clix.CheckOnly(ctx.Context) {
				return nil
			}
			return Run(ctx.Context, c)
		},
	}
}
