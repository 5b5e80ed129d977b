package wait

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
)

// Defaults for the command line. The library's zero values mean "none"; the
// command's defaults are what a user of an init container expects.
const (
	DefaultTimeout        = 5 * time.Minute
	DefaultAttemptTimeout = 5 * time.Second
	DefaultInterval       = 100 * time.Millisecond
	// Half a second: every peer polls at a fixed 1 s; a refused connect or a
	// health GET costs nothing, and the app starts sooner.
	DefaultMaxInterval = 500 * time.Millisecond
)

// Command returns the `wait` command. This file is the only one in the
// package that knows about the command line.
func Command() *cli.Command {
	var c Config
	var headers, headerFiles cli.StringSlice
	env := func(flag string) []string { return clix.Env("wait", flag) }
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "any", Usage: "succeed when one target is ready (default: all must be)", EnvVars: env("any"), Destination: &c.Any},
		&cli.IntFlag{Name: "stable", Value: 1, Usage: "consecutive successful checks before a target counts as ready (a database that accepts connections while it still starts)", EnvVars: env("stable"), Destination: &c.Stable},
	}
	flags = append(flags, clix.TimeoutFlags("wait", &c.Timeout, &c.AttemptTimeout, DefaultTimeout, DefaultAttemptTimeout)...)
	flags = append(flags, clix.BackoffFlags("wait", &c.Interval, &c.MaxInterval, DefaultInterval, DefaultMaxInterval)...)
	flags = append(flags,
		&cli.StringFlag{Name: "status", Value: "2xx", Usage: "HTTP statuses that mean ready: codes, classes, ranges (200,204,3xx,400-404)", EnvVars: env("status"), Destination: &c.HTTP.Status, Category: "HTTP"},
		&cli.StringFlag{Name: "body-regex", Usage: "regular expression the response body (its first MiB) must match", EnvVars: env("body-regex"), Destination: &c.HTTP.BodyRegex, Category: "HTTP"},
		&cli.StringFlag{Name: "json-path", Usage: "value in a JSON response that must exist and be neither null nor false (.status, .checks[0].ok)", EnvVars: env("json-path"), Destination: &c.HTTP.JSONPath, Category: "HTTP"},
		&cli.StringFlag{Name: "json-value", Usage: "what the value at --json-path must equal: strings as they are, numbers as written, true/false/null, objects as compact JSON (UP, true, 3)", EnvVars: env("json-value"), Destination: &c.HTTP.JSONValue, Category: "HTTP"},
		&cli.StringSliceFlag{Name: "header", Usage: "request header \"Name: value\"; ${VAR} in the value reads the environment (repeatable)", EnvVars: env("header"), Destination: &headers, Category: "HTTP"},
		&cli.StringSliceFlag{Name: "header-file", Usage: "request header Name=/path whose value is the file's content (repeatable)", EnvVars: env("header-file"), Destination: &headerFiles, Category: "HTTP"},
		&cli.StringFlag{Name: "method", Usage: "request method (default GET, or POST with a body)", EnvVars: env("method"), Destination: &c.HTTP.Method, Category: "HTTP"},
		&cli.StringFlag{Name: "body", Usage: "request body, sent with every attempt", EnvVars: env("body"), Destination: &c.HTTP.Body, Category: "HTTP"},
		&cli.StringFlag{Name: "body-file", Usage: "file holding the request body", EnvVars: env("body-file"), Destination: &c.HTTP.BodyFile, Category: "HTTP"},
		&cli.BoolFlag{Name: "follow-redirects", Usage: "follow up to 10 redirects; the headers are dropped on a redirect to another host or from https to http (without it a 3xx is the status checked)", EnvVars: env("follow-redirects"), Destination: &c.HTTP.FollowRedirects, Category: "HTTP"},
	)
	flags = append(flags, clix.TLSFlags("wait", &c.TLS)...)
	flags = append(flags,
		&cli.StringFlag{Name: "password-file", Usage: "file holding the password for database and cache targets whose URL has none", EnvVars: env("password-file"), Destination: &c.PasswordFile, Category: "Databases and caches"},
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig for k8s:// targets (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)", EnvVars: env("kubeconfig"), Destination: &c.Kubeconfig, Category: "Kubernetes"},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig context for k8s:// targets (default: the current context)", EnvVars: env("context"), Destination: &c.KubeContext, Category: "Kubernetes"},
	)

	return &cli.Command{
		Name:      "wait",
		Usage:     "wait until dependencies are ready, then exit 0 (or exec a command)",
		ArgsUsage: "TARGET... [-- COMMAND [ARG...]]",
		UsageText: `initbox wait [flags] TARGET... [-- COMMAND [ARG...]]
wait-for [flags] TARGET... [-- COMMAND [ARG...]]`,
		Description: `Checks every TARGET in parallel until all are ready (or one, with --any),
retrying with exponential backoff. Exit codes: 0 ready, 1 a target failed in a
way waiting cannot fix (TLS error, HTTP 401), 2 bad usage, 124 --timeout ran out
(the message names each target still not ready and its last error).

Targets (the query belongs to the scheme, everything after # to initbox):
  tcp://HOST:PORT                 a TCP connection opens (HOST:PORT alone works too)
  http(s)://HOST[:PORT]/PATH      the response status is 2xx (see HTTP flags)
  unix:///PATH                    a Unix socket accepts a connection
  file:///PATH[?nonempty]         the path exists (and is a non-empty file or directory)
  dns://NAME[?type=A|AAAA|CNAME|TXT|SRV|MX|NS][&server=IP:PORT]
                                  the name resolves
  postgres://USER@HOST:5432/DB    a session is established and SELECT 1 succeeds
  mysql://USER@HOST:3306/DB       the same for MySQL and MariaDB
  redis://[USER]@HOST:6379[/DB]   PING answers PONG (rediss:// for TLS)
  grpc://HOST:PORT[?service=S]    grpc.health.v1 answers SERVING (grpcs:// for TLS)
  k8s://KIND/NAME[?namespace=NS]  job complete, pod ready, deployment/statefulset/
                                  daemonset rolled out, service has a ready endpoint;
                                  any kind with ?condition=Ready or ?jsonpath=.a&value=V
${VAR} in a target reads the environment (passwords never need to be in argv).
Per-target options after #, comma-separated:
  optional                        only warn if it is not ready (never delays the others)
  timeout=30s                     a deadline for this target alone
  attempt-timeout=2s, stable=3    override --attempt-timeout and --stable
  password-file=/path             the password of a database or cache target

Examples:
  initbox wait tcp://postgres:5432 http://api:8080/healthz
  initbox wait --timeout 2m 'http://api:8080/actuator/health' --json-path .status --json-value UP
  initbox wait 'tcp://cache:6379#optional,timeout=10s' tcp://db:5432
  initbox wait 'postgres://app:${PGPASSWORD}@db:5432/app' k8s://job/db-migrate
  initbox wait --stable 3 tcp://[::1]:5432 -- /app/server --port 8080
  INITBOX_WAIT_TIMEOUT=60s wait-for db:5432`,
		Flags: flags,
		Action: func(ctx *cli.Context) error {
			c.Targets, c.Exec = clix.Args(ctx)
			c.HTTP.Headers, c.HTTP.HeaderFiles = headers.Value(), headerFiles.Value()
			if err := c.Validate(); err != nil {
				return exitcode.Usage(err)
			}
			if clix.CheckOnly(ctx.Context) {
				return nil
			}
			if err := Run(ctx.Context, c); err != nil {
				return err
			}
			if len(c.Exec) > 0 {
				return execCommand(c.Exec)
			}
			return nil
		},
	}
}

// execCommand replaces initbox with the command, so that it keeps the PID
// (PID 1 in a container) and receives signals directly.
func execCommand(argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("command after --: %w", err)
	}
	// Only the program: its arguments may carry secrets.
	slog.Info("starting command", "command", path)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("starting %s: %w", path, err)
	}
	return nil // not reached
}
