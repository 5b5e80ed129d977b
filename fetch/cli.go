package fetch

import (
	"io/fs"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// Defaults for the command line.
const (
	DefaultTimeout        = 5 * time.Minute
	DefaultAttemptTimeout = 30 * time.Second
	DefaultInterval       = 250 * time.Millisecond
	DefaultMaxInterval    = 5 * time.Second // a sealed Vault is not hammered
)

// Command returns the `fetch` command. This file is the only one in the
// package that knows about the command line.
func Command() *cli.Command {
	var c Config
	var mode, partSize, maxBytes string
	var tls tlsconfig.Options
	var include, exclude cli.StringSlice
	env := func(flag string) []string { return clix.Env("fetch", flag) }
	flags := []cli.Flag{
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "file to write (a directory with --format dir; - for stdout)", EnvVars: env("out"), Destination: &c.Out},
		&cli.StringFlag{Name: "format", Usage: "raw, json, yaml, dotenv (docker compose, python-dotenv, godotenv), shell (sh), env-file (docker run --env-file), systemd (EnvironmentFile=), properties or dir (default: from --out's extension; raw for one value)", EnvVars: env("format"), Destination: &c.Format},
		&cli.StringFlag{Name: "mode", Value: "0600", Usage: "mode of the written files (octal)", EnvVars: env("mode"), Destination: &mode},
		&cli.StringFlag{Name: "owner", Usage: "uid:gid of the written files (needs root)", EnvVars: env("owner"), Destination: &c.Owner},
		&cli.StringFlag{Name: "receipt", Usage: "write a JSON record of what was read (paths, versions, leases; no values)", EnvVars: env("receipt"), Destination: &c.Receipt},
	}
	flags = append(flags, clix.TimeoutFlags("fetch", &c.Timeout, &c.AttemptTimeout, DefaultTimeout, DefaultAttemptTimeout)...)
	flags = append(flags, clix.BackoffFlags("fetch", &c.Interval, &c.MaxInterval, DefaultInterval, DefaultMaxInterval)...)
	flags = append(flags,
		&cli.IntFlag{Name: "concurrency", Value: DefaultConcurrency, Usage: "parallel downloads (objects and parts of large objects)", EnvVars: env("concurrency"), Destination: &c.Concurrency, Category: "Objects"},
		&cli.StringFlag{Name: "part-size", Value: "16MiB", Usage: "part size for ranged parallel downloads of large objects", EnvVars: env("part-size"), Destination: &partSize, Category: "Objects"},
		&cli.StringSliceFlag{Name: "include", Usage: "under a prefix, only names matching this glob (*, ?, ** across /; repeatable)", EnvVars: env("include"), Destination: &include, Category: "Objects"},
		&cli.StringSliceFlag{Name: "exclude", Usage: "under a prefix, skip names matching this glob (repeatable)", EnvVars: env("exclude"), Destination: &exclude, Category: "Objects"},
		&cli.StringFlag{Name: "max-bytes", Value: "10GiB", Usage: "refuse references that list more bytes than this, before downloading", EnvVars: env("max-bytes"), Destination: &maxBytes, Category: "Objects"},
		&cli.IntFlag{Name: "max-objects", Value: DefaultMaxObjects, Usage: "refuse references that list more objects than this", EnvVars: env("max-objects"), Destination: &c.MaxObjects, Category: "Objects"},
	)
	// Each source brings its own flags, prefixed with its scheme.
	c.Sources = map[string]source.Options{}
	for _, p := range source.Providers() {
		o := p.Options()
		c.Sources[p.Scheme] = o
		if f, ok := o.(clix.Flagger); ok {
			flags = append(flags, f.Flags("fetch")...)
		}
	}
	flags = append(flags, clix.TLSFlags("fetch", &tls)...)
	var w clix.Watch
	flags = append(flags, clix.WatchFlags("fetch", "KV re-read, leases renewed, certificates re-issued, objects re-listed", &w)...)

	return &cli.Command{
		Name:      "fetch",
		Usage:     "read secrets from Vault and objects from S3 into files, atomically, never printing a value",
		ArgsUsage: "REF...",
		UsageText: `initbox fetch [flags] REF... --out FILE
fetch-config [flags] REF... --out FILE`,
		Description: `Reads every REF and writes one output: a single value byte-exact (raw), or
all values combined as json, yaml, dotenv or properties, or one file per name
(dir, the shape of a Kubernetes Secret volume, published all or nothing).
Files are written atomically with mode 0600 unless --mode says otherwise.

References (the query belongs to Vault, everything after # to initbox):
  vault://MOUNT/PATH              a whole secret (KV v1 or v2, detected; or any path)
  vault://MOUNT/PATH#KEY          one value (same as #key=KEY)
  vault://MOUNT/PATH?version=3    a KV v2 version
  vault://pki/issue/ROLE?common_name=web.svc#write
                                  a write; the query gives its fields
  s3://BUCKET/KEY[?versionId=V]   one object, to a file
  s3://BUCKET/PREFIX/             every object under the prefix, to a directory
                                  (--include/--exclude; published all or nothing)
Options after #, comma-separated: key=K, as=NAME (its name in a combined
output), optional, default=V, kv=1|2 (skip detection), mount=M, write.

Vault login (--vault-auth): token (VAULT_TOKEN or --vault-token-file),
kubernetes (--vault-role), approle (--vault-role-id[-file],
--vault-secret-id-file [--vault-secret-id-wrapped]), jwt (--vault-role,
--vault-jwt-file). A token initbox logs in with is revoked at the end unless
--vault-token-out hands it to the application. VAULT_ADDR, VAULT_CACERT,
VAULT_NAMESPACE and the other VAULT_* variables work as for the vault CLI.

Examples:
  initbox fetch 'vault://secret/app/db#password' --out /secrets/db-password
  initbox fetch vault://secret/app/db vault://secret/app/api --out /config/app.env
  initbox fetch vault://database/creds/app --format dir --out /secrets/db/ --vault-auth kubernetes --vault-role app
  initbox fetch 'vault://pki/issue/web?common_name=web.app.svc&ttl=24h#write' --format dir --out /tls/
  initbox fetch s3://models/resnet/ --out /data/models/ --include '*.onnx'
  initbox fetch s3://config/app.yaml --out /config/app.yaml --s3-endpoint http://minio:9000`,
		Flags: flags,
		Action: func(ctx *cli.Context) error {
			refs, tail := clix.Args(ctx)
			if len(tail) > 0 {
				return exitcode.Usagef("fetch takes no command after --")
			}
			c.Refs = refs
			m, err := strconv.ParseUint(mode, 8, 32)
			if err != nil || m > 0o777 {
				return exitcode.Usagef("--mode %q: want octal permission bits, e.g. 0600 or 0640", mode)
			}
			c.Mode = fs.FileMode(m)
			if c.PartSize, err = clix.ParseSize(partSize); err != nil {
				return exitcode.Usagef("--part-size %q: want a size like 16MiB or 8M", partSize)
			}
			if c.MaxBytes, err = clix.ParseSize(maxBytes); err != nil {
				return exitcode.Usagef("--max-bytes %q: want a size like 10GiB or 500M", maxBytes)
			}
			c.TLS = tls
			c.Include, c.Exclude = include.Value(), exclude.Value()
			c.Stdout = ctx.App.Writer
			c.Watch = w.Get()
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
