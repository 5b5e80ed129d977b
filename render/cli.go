package render

import (
	"io/fs"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
)

// Command returns the `render` command. This file is the only one in the
// package that knows about the command line.
func Command() *cli.Command {
	var c Config
	var w clix.Watch
	var mode, delims, maxBytes string
	var values, data, allow, include, exclude, checks, apiVersions cli.StringSlice
	env := func(flag string) []string { return clix.Env("render", flag) }
	return &cli.Command{
		Name:      "render",
		Usage:     "render templates (Go text/template with sprig, or envsubst) into config files, strict and all or nothing",
		ArgsUsage: "SRC",
		UsageText: `initbox render [flags] SRC --out OUT
  SRC   a template file, a directory (templates end in .tmpl; other files are copied), or - for stdin
  OUT   a file, a directory (ending in /, for a directory SRC), or - for stdout`,
		Description: `Data, visible to templates as:
  .Values        --values f.yaml (repeatable; deep-merged in order, Helm semantics; f.yaml?optional may be missing)
  .Data.NAME     --data NAME=PATH: JSON, YAML, TOML, dotenv or properties by extension (?format=… to say),
                 or a directory read as a map of file name to content (a Secret/ConfigMap volume, what fetch writes)
  .Env           the environment; --env-prefix APP_ limits it (and the env function) to APP_*
Strict: a missing key fails, naming template, line and key; optional lookups
say so: {{ get .Values "x" | default "d" }}, {{ dig "a" "b" "d" .Values }},
{{ required "set db.host" .Values.db.host }}. Functions: sprig's and Helm's
(toYaml, fromYaml, toJson, fromJson, toToml, required, include, tpl); no
getHostByName, no exec, no file reads.

--envsubst expands ${VAR} as the shell does (${VAR:-default}, ${VAR:=default},
${VAR:+alternate}, ${VAR:?message}, nested defaults; $$ is a literal $) instead.
$VAR without braces is left alone (nginx's $host), except for the names given
with --allow: then only those are replaced, braced or not, as the nginx image's
envsubst script does.

Outputs ending in .json/.yaml/.yml/.toml must parse; --check 'CMD {{.Path}}'
runs a validator on each staged file first. Nothing is written unless every
template renders and every check passes; a directory is published all or
nothing.

Examples:
  initbox render /templates/app.yaml.tmpl --values /config/values.yaml --data db=/secrets/db/ --out /config/app.yaml
  initbox render /templates/ --out /etc/app/ --values base.yaml --values 'site.yaml?optional' --env-prefix APP_
  initbox render --envsubst --allow PORT,SERVER_NAME /etc/nginx/templates/default.conf.tmpl --out /etc/nginx/conf.d/default.conf
  initbox render nginx.conf.tmpl --out /etc/nginx/nginx.conf --check 'nginx -t -c {{.Path}}'`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "file or directory to write (- for stdout)", EnvVars: env("out"), Destination: &c.Out},
			&cli.StringSliceFlag{Name: "values", Aliases: []string{"f"}, Usage: "values file, deep-merged into .Values in order (PATH[?optional]; repeatable)", EnvVars: env("values"), Destination: &values},
			&cli.StringSliceFlag{Name: "data", Usage: "NAME=PATH: a file or directory as .Data.NAME (repeatable)", EnvVars: env("data"), Destination: &data},
			&cli.StringFlag{Name: "env-prefix", Usage: "only environment variables starting with this are visible", EnvVars: env("env-prefix"), Destination: &c.EnvPrefix},
			&cli.BoolFlag{Name: "envsubst", Usage: "replace ${VAR} forms instead of executing Go templates", EnvVars: env("envsubst"), Destination: &c.Envsubst},
			&cli.StringSliceFlag{Name: "allow", Usage: "with --envsubst: the only variable names replaced, as ${VAR} and as $VAR (comma-separated or repeated)", EnvVars: env("allow"), Destination: &allow},
			&cli.StringFlag{Name: "suffix", Value: DefaultSuffix, Usage: "in a directory, files with this suffix are templates (stripped on output)", EnvVars: env("suffix"), Destination: &c.Suffix},
			&cli.StringSliceFlag{Name: "include", Usage: "in a directory, only files matching this glob (*, ?, ** across /; repeatable)", EnvVars: env("include"), Destination: &include},
			&cli.StringSliceFlag{Name: "exclude", Usage: "in a directory, skip files matching this glob (repeatable)", EnvVars: env("exclude"), Destination: &exclude},
			&cli.StringFlag{Name: "partials", Usage: "directory of templates every template can include (named by relative path)", EnvVars: env("partials"), Destination: &c.Partials},
			&cli.StringFlag{Name: "delims", Usage: "template delimiters instead of {{ }}, e.g. '[[ ]]' or [[,]]", EnvVars: env("delims"), Destination: &delims},
			&cli.StringFlag{Name: "mode", Usage: "mode of the written files (octal; default: each source's)", EnvVars: env("mode"), Destination: &mode},
			&cli.StringFlag{Name: "owner", Usage: "uid:gid of the written files (needs root)", EnvVars: env("owner"), Destination: &c.Owner},
			&cli.StringSliceFlag{Name: "check", Usage: "validator run on the staged files before publishing: {{.Path}} each rendered file, {{.Dir}} the directory (repeatable)", EnvVars: env("check"), Destination: &checks},
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would change (names, and a diff of files without secrets); write nothing", EnvVars: env("dry-run"), Destination: &c.DryRun},
			&cli.StringFlag{Name: "funcs", Value: FuncsHelm, Usage: "the function set: helm (sprig and Helm's), dockerize or gomplate (theirs, with their argument orders), for templates written for them", EnvVars: env("funcs"), Destination: &c.Funcs},
			&cli.StringFlag{Name: "missing", Usage: "a missing value: print (an error only where it is printed; default, default/required/hasKey/with work; the default), zero (printed as nothing, as Helm does) or error (any lookup of it fails; the default with --funcs gomplate, as in gomplate)", EnvVars: env("missing"), Destination: &c.Missing},
			&cli.StringFlag{Name: "chart", Usage: "a Chart.yaml, or a chart's directory, as .Chart (for a chart's helpers)", EnvVars: env("chart"), Destination: &c.Chart, Category: "Helm"},
			&cli.StringFlag{Name: "release", Usage: "the release name, as .Release.Name (with .Release.Namespace, .Service, …)", EnvVars: env("release"), Destination: &c.Release, Category: "Helm"},
			&cli.StringFlag{Name: "namespace", Value: "default", Usage: "the release's namespace (.Release.Namespace)", EnvVars: env("namespace"), Destination: &c.Namespace, Category: "Helm"},
			&cli.StringFlag{Name: "kube-version", Value: DefaultKubeVersion, Usage: ".Capabilities.KubeVersion (helm template's default without a cluster)", EnvVars: env("kube-version"), Destination: &c.KubeVersion, Category: "Helm"},
			&cli.StringSliceFlag{Name: "api-versions", Usage: "more .Capabilities.APIVersions, e.g. monitoring.coreos.com/v1 (repeatable)", EnvVars: env("api-versions"), Destination: &apiVersions, Category: "Helm"},
			&cli.StringFlag{Name: "max-bytes", Value: "64MiB", Usage: "the most read from one file, and written by all templates together (a template that loops without end stops there)", EnvVars: env("max-bytes"), Destination: &maxBytes, Category: "Limits"},
			&cli.DurationFlag{Name: "timeout", Value: DefaultTimeout, Usage: "overall deadline; 0 waits forever (exit 124 when it runs out)", EnvVars: env("timeout"), Destination: &c.Timeout, Category: "Limits"},
		}, clix.WatchFlags("render", "re-rendered when a template, values or data file changes (a ConfigMap's ..data swap too)", &w)...),
		Action: func(ctx *cli.Context) error {
			args, tail := clix.Args(ctx)
			if len(tail) > 0 || len(args) != 1 {
				return exitcode.Usagef("render takes one SRC (a file, a directory, or -), got %d", len(args)+len(tail))
			}
			c.Src = args[0]
			var err error
			if c.MaxBytes, err = clix.ParseSize(maxBytes); err != nil || c.MaxBytes == 0 {
				return exitcode.Usagef("--max-bytes %q: want a size like 64MiB or 500K", maxBytes)
			}
			if mode != "" {
				m, err := strconv.ParseUint(mode, 8, 32)
				if err != nil || m > 0o777 || m == 0 {
					return exitcode.Usagef("--mode %q: want octal permission bits, e.g. 0644 or 0600", mode)
				}
				c.Mode = fs.FileMode(m)
			}
			if delims != "" {
				sep := " "
				if strings.Contains(delims, ",") {
					sep = ","
				}
				l, r, ok := strings.Cut(strings.TrimSpace(delims), sep)
				if !ok || l == "" || strings.TrimSpace(r) == "" {
					return exitcode.Usagef("--delims %q: want LEFT and RIGHT separated by a space or a comma, e.g. '[[ ]]' or [[,]]", delims)
				}
				c.LeftDelim, c.RightDelim = l, strings.TrimSpace(r)
			}
			c.Values, c.Data, c.Include, c.Exclude, c.Checks = values.Value(), data.Value(), include.Value(), exclude.Value(), checks.Value()
			c.APIVersions = apiVersions.Value()
			for _, a := range allow.Value() {
				for _, n := range strings.Split(a, ",") {
					if n = strings.TrimSpace(n); n != "" {
						c.Allow = append(c.Allow, n)
					}
				}
			}
			c.Stdin, c.Stdout = ctx.App.Reader, ctx.App.Writer
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
