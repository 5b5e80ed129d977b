// Package clix holds what the per-command CLI adapters (wait/cli.go, …)
// share: environment variable names, the flags every command has, and the
// flags for the same idea in several commands (timeouts, TLS), so that a user
// who learned one command can predict the others (docs/design.md §1).
//
// Only cli.go adapters and internal/app import this package.
package clix

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/logging"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/internal/watch"
)

// Env returns the environment variable for a command's flag:
// Env("wait", "attempt-timeout") is INITBOX_WAIT_ATTEMPT_TIMEOUT.
func Env(command, flag string) []string {
	return []string{"INITBOX_" + envName(command) + "_" + envName(flag)}
}

// GlobalEnv returns the environment variable for a flag every command has:
// GlobalEnv("log-format") is INITBOX_LOG_FORMAT.
func GlobalEnv(flag string) []string { return []string{"INITBOX_" + envName(flag)} }

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// A Flagger binds a source's options to its command-line flags (fetch's
// and seed's sources, in their packages' cli.go). Every flag of a source is
// prefixed with its name (--vault-role, --git-ref, --s3-endpoint) and its
// environment variable follows (INITBOX_FETCH_VAULT_ROLE), so that two
// sources never collide.
type Flagger interface {
	Flags(command string) []cli.Flag
}

// Common holds the flags every command has.
type Common struct {
	Log logging.Options
	// TerminationLog is where the one-line failure message goes; "" means
	// /dev/termination-log when it exists.
	TerminationLog string
}

// CommonFlags binds the flags every command has to c.
func CommonFlags(c *Common) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json", EnvVars: GlobalEnv("log-format"), Destination: &c.Log.Format, Category: "Logging"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: GlobalEnv("log-level"), Destination: &c.Log.Level, Category: "Logging"},
		&cli.StringFlag{Name: "termination-log", Usage: "file for the one-line failure message (default /dev/termination-log when it exists)", EnvVars: GlobalEnv("termination-log"), Destination: &c.TerminationLog, Category: "Logging"},
	}
}

// TimeoutFlags binds --timeout and --attempt-timeout for a command that
// retries.
func TimeoutFlags(command string, timeout, attempt *time.Duration, defTimeout, defAttempt time.Duration) []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "timeout", Value: defTimeout, Usage: "overall deadline; 0 waits forever (exit 124 when it runs out)", EnvVars: Env(command, "timeout"), Destination: timeout, Category: "Timing"},
		&cli.DurationFlag{Name: "attempt-timeout", Value: defAttempt, Usage: "deadline for one attempt", EnvVars: Env(command, "attempt-timeout"), Destination: attempt, Category: "Timing"},
	}
}

// BackoffFlags binds --interval and --max-interval.
func BackoffFlags(command string, interval, max *time.Duration, defInterval, defMax time.Duration) []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: defInterval, Usage: "wait after the first failed attempt; doubles each time (±20% jitter)", EnvVars: Env(command, "interval"), Destination: interval, Category: "Timing"},
		&cli.DurationFlag{Name: "max-interval", Value: defMax, Usage: "longest wait between attempts", EnvVars: Env(command, "max-interval"), Destination: max, Category: "Timing"},
	}
}

// TLSFlags binds the TLS options (docs/design.md §7).
func TLSFlags(command string, o *tlsconfig.Options) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ca-file", Usage: "PEM bundle of CAs to trust instead of the system/embedded roots", EnvVars: Env(command, "ca-file"), Destination: &o.CAFile, Category: "TLS"},
		&cli.StringFlag{Name: "client-cert", Usage: "PEM client certificate for mutual TLS", EnvVars: Env(command, "client-cert"), Destination: &o.ClientCert, Category: "TLS"},
		&cli.StringFlag{Name: "client-key", Usage: "PEM private key for --client-cert (a file; never the key itself)", EnvVars: Env(command, "client-key"), Destination: &o.ClientKey, Category: "TLS"},
		&cli.StringFlag{Name: "server-name", Usage: "name to verify the server certificate against (and send in SNI)", EnvVars: Env(command, "server-name"), Destination: &o.ServerName, Category: "TLS"},
		&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "do not verify server certificates (logs a warning every time)", EnvVars: Env(command, "insecure-skip-verify"), Destination: &o.InsecureSkipVerify, Category: "TLS"},
	}
}

// Watch binds --watch and the options of the second mode (internal/watch)
// for a command; Options returns nil unless --watch is given.
type Watch struct {
	On      bool
	Options watch.Options
}

// Get returns the options when --watch is given, else nil.
func (w *Watch) Get() *watch.Options {
	if !w.On {
		return nil
	}
	o := w.Options
	return &o
}

// WatchFlags binds the flags of --watch; what keeps refreshing says what
// a pass does, for --refresh's help.
func WatchFlags(command, what string, w *Watch) []cli.Flag {
	o := &w.Options
	n := &o.Notify
	return []cli.Flag{
		&cli.BoolFlag{Name: "watch", Usage: "after the first pass, stay up (a native sidecar) and keep the output fresh: " + what, EnvVars: Env(command, "watch"), Destination: &w.On, Category: "Watch"},
		&cli.DurationFlag{Name: "refresh", Value: watch.DefaultRefresh, Usage: "how often to poll what cannot be watched (leases are renewed at two thirds of their TTL, sooner)", EnvVars: Env(command, "refresh"), Destination: &o.Refresh, Category: "Watch"},
		&cli.StringFlag{Name: "health-addr", Usage: "serve /readyz (200 after the first pass), /healthz and /metrics on this address (e.g. :8099)", EnvVars: Env(command, "health-addr"), Destination: &o.HealthAddr, Category: "Watch"},
		&cli.StringFlag{Name: "on-change-signal", Usage: "after a change, send this signal (HUP, USR1, …) to --on-change-process or --on-change-pid-file", EnvVars: Env(command, "on-change-signal"), Destination: &n.Signal, Category: "Watch"},
		&cli.StringFlag{Name: "on-change-process", Usage: "the process to signal, by name (needs shareProcessNamespace: true)", EnvVars: Env(command, "on-change-process"), Destination: &n.Process, Category: "Watch"},
		&cli.StringFlag{Name: "on-change-pid-file", Usage: "the process to signal, by a file holding its pid", EnvVars: Env(command, "on-change-pid-file"), Destination: &n.PIDFile, Category: "Watch"},
		&cli.StringFlag{Name: "on-change-url", Usage: "after a change, POST to this URL (a reload endpoint; 2xx is success, else retried)", EnvVars: Env(command, "on-change-url"), Destination: &n.URL, Category: "Watch"},
		&cli.DurationFlag{Name: "on-change-debounce", Value: watch.DefaultDebounce, Usage: "wait out a burst of changes for this long before telling the application", EnvVars: Env(command, "on-change-debounce"), Destination: &n.Debounce, Category: "Watch"},
	}
}

// Args splits a command's positional arguments at the first "--": what
// comes before are the command's arguments, what comes after is the tail
// (for wait, the command to exec). internal/app guarantees that a "--" the
// user typed reaches the command this way.
func Args(c *cli.Context) (args, tail []string) {
	all := c.Args().Slice()
	for i, a := range all {
		if a == "--" {
			return all[:i], all[i+1:]
		}
	}
	return all, nil
}

type checkOnlyKey struct{}

// WithCheckOnly marks ctx so that a command validates its options and
// stops before doing anything (initbox run --check).
func WithCheckOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, checkOnlyKey{}, true)
}

// CheckOnly reports whether ctx asks a command only to validate.
func CheckOnly(ctx context.Context) bool {
	v, _ := ctx.Value(checkOnlyKey{}).(bool)
	return v
}

// ParseSize reads a size flag: 16777216, 16M, 16MiB, 16MB (binary units
// throughout).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size")
	}
	return n * mult, nil
}
