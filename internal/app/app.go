// Package app is initbox's command line: it picks the command (from argv[0]
// or the first argument), parses flags with urfave/cli, sets up logging, runs
// the command, and turns the result into an exit code, one error line on
// stderr and the termination message (docs/design.md §1–3).
//
// cmd/initbox/main.go is only:
//
//	ctx, stop := app.SignalContext(context.Background())
//	code := app.Main(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
//	stop()
//	os.Exit(code)
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/fetch"
	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/gcfloor"
	"github.com/initbox/initbox/internal/logging"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/termlog"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/internal/version"
	"github.com/initbox/initbox/render"
	"github.com/initbox/initbox/run"
	"github.com/initbox/initbox/seed"
	"github.com/initbox/initbox/wait"
)

// SignalContext returns a context cancelled by SIGINT or SIGTERM, with an
// *exitcode.Interrupted cause naming the signal (so the exit code is 130 or
// 143). Later signals are absorbed until stop is called, so that cleanup can
// finish.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&exitcode.Interrupted{Signal: s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// connects names the commands that may make TLS connections: they register
// the embedded roots before they start (a FROM scratch image has no
// others). render is hermetic and version prints; run's steps are commands
// themselves.
var connects = map[string]bool{"wait": true, "fetch": true, "seed": true}

// embedRoots is tlsconfig.EmbedRoots (a variable for tests).
var embedRoots = tlsconfig.EmbedRoots

// commands returns the commands, freshly built (each holds its own Config),
// with the flags every command shares bound to common, and logging set up
// on stderr before a command runs.
func commands(common *clix.Common, stdin io.Reader, stdout, stderr io.Writer) []*cli.Command {
	// run executes its steps with Main, in this process: the same parsing,
	// logging and exit codes as a step run alone.
	step := func(ctx context.Context, argv []string, check bool) int {
		if check {
			ctx = clix.WithCheckOnly(ctx)
		}
		argv = append(argv, "--log-format", common.Log.Format, "--log-level", common.Log.Level)
		return Main(ctx, append([]string{"initbox"}, argv...), stdin, stdout, stderr)
	}
	cmds := []*cli.Command{
		wait.Command(),
		fetch.Command(),
		render.Command(),
		seed.Command(),
		run.Command(step),
		{
			Name:  "version",
			Usage: "print version, commit and Go version",
			Action: func(c *cli.Context) error {
				_, err := fmt.Fprintln(c.App.Writer, version.String())
				return err
			},
		},
	}
	for _, c := range cmds {
		c.Flags = append(c.Flags, clix.CommonFlags(common)...)
		c.OnUsageError = usageError
		connects := connects[c.Name]
		c.Before = func(*cli.Context) error {
			logger, err := logging.New(stderr, common.Log)
			if err != nil {
				return exitcode.Usage(err)
			}
			slog.SetDefault(logger)
			if connects {
				embedRoots()
			}
			return nil
		}
	}
	return cmds
}

const appHelp = `initbox runs the steps that must finish before an application starts:
wait for dependencies, fetch configuration and secrets, render templates, seed
volumes. One static binary; commands are also reachable through links named
after them (wait-for, fetch-config).

Examples:
  initbox wait tcp://db:5432 http://api:8080/healthz
  wait-for --timeout 60s db:5432 -- /app/server
  initbox fetch 'vault://secret/app/db#password' --out /secrets/db-password
  initbox render /templates/ --values /config/values.yaml --data db=/secrets/db/ --out /etc/app/
  initbox seed https://example.com/site.tar.gz /srv/www --strip-components 1 --sha256 9f86d08…

Exit codes: 0 done, 1 failed, 2 bad usage, 124 timed out, 130/143 interrupted.
Every flag can also be set as INITBOX_<COMMAND>_<FLAG> (INITBOX_WAIT_TIMEOUT=60s);
--log-format, --log-level and --termination-log as INITBOX_<FLAG>.`

// Main runs initbox with args (os.Args) and returns the exit code. The
// collector first runs when the heap reaches gcfloor.Default (once per
// process; GOGC or GOMEMLIMIT set by the user win).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	gcfloor.Set(gcfloor.Default)
	var common clix.Common
	cmds := commands(&common, stdin, stdout, stderr)
	app := &cli.App{
		Name:               "initbox",
		Usage:              "bootstrap steps for init containers and one-shot services",
		Description:        appHelp,
		Version:            version.Version,
		HideVersion:        true,
		Commands:           cmds,
		Reader:             stdin,
		Writer:             stdout,
		ErrWriter:          stderr,
		OnUsageError:       usageError,
		ExitErrHandler:     func(*cli.Context, error) {}, // Main decides the exit code
		SliceFlagSeparator: "\n",                         // a header value may contain commas
	}

	argv, name, err := normalize(args, cmds)
	if err == nil && len(argv) == 1 {
		// No command at all: in an init container that is a broken manifest,
		// so say how to use initbox and fail rather than exit 0.
		app.Writer = stderr
		_ = app.Run([]string{argv[0], "help"})
		err = exitcode.Usagef("no command given")
	}
	start := time.Now()
	if err == nil {
		err = runRecovered(ctx, app, argv)
	}
	return finish(ctx, name, err, time.Since(start), common, stderr)
}

// runRecovered runs the app; a panic on its goroutine becomes one error
// line and exit 1, never a Go stack trace in front of a user.
func runRecovered(ctx context.Context, app *cli.App, argv []string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error (a bug; please report it with the command line): %v", p)
		}
	}()
	return app.RunContext(ctx, argv)
}

// maxMessage bounds the error line (the termination message keeps 4 KiB).
const maxMessage = 8 << 10

// finish reports err once, at the edge: one scrubbed log line on stderr and
// the termination message, and returns the exit code.
func finish(ctx context.Context, name string, err error, took time.Duration, common clix.Common, stderr io.Writer) int {
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	var in *exitcode.Interrupted
	if errors.As(context.Cause(ctx), &in) {
		// Whatever the command made of the cancellation, a signal decides.
		code = in.ExitCode()
		if !errors.As(err, &in) {
			err = fmt.Errorf("%w: %w", in, err)
		}
	}
	if name == "" {
		name = "initbox"
	}
	msg := redact.Scrub(err.Error())
	if len(msg) > maxMessage {
		// One line a reader can read: its start and its end.
		msg = msg[:maxMessage/2] + " … " + msg[len(msg)-maxMessage/2:]
	}
	// The error may have come before flags and environment were parsed.
	if common.Log.Format == "" {
		common.Log.Format = os.Getenv(clix.GlobalEnv("log-format")[0])
	}
	logger, lerr := logging.New(stderr, common.Log)
	if lerr != nil {
		logger, _ = logging.New(stderr, logging.Options{})
	}
	attrs := []any{"command", name, "exit_code", code, "elapsed", took.Round(time.Millisecond), "error", msg}
	if code == exitcode.UsageCode {
		help := "run 'initbox help'"
		if name != "initbox" {
			help = "run 'initbox " + name + " --help'"
		}
		attrs = append(attrs, "hint", help)
	}
	logger.Error("failed", attrs...)
	path := common.TerminationLog
	if path == "" {
		path = os.Getenv(clix.GlobalEnv("termination-log")[0])
	}
	if werr := termlog.Write(path, name+": "+msg); werr != nil {
		logger.Warn("termination message not written", "error", werr)
	}
	return code
}
