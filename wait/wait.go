// Package wait waits until dependencies are ready: TCP ports, HTTP(S)
// endpoints, Unix sockets, files and DNS names. It is the library behind
// `initbox wait`; cli.go maps flags onto Config.
//
//	err := wait.Run(ctx, wait.Config{
//		Targets: []string{"tcp://db:5432", "http://api:8080/healthz"},
//		Timeout: 5 * time.Minute,
//	})
//
// Targets are checked in parallel, each in its own retry loop (the shared
// internal/retry policy). By default all must be ready; Any makes one enough.
package wait

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/expand"
	"github.com/initbox/initbox/internal/jsonpath"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/wait/check"
)

// Config says what to wait for and how.
type Config struct {
	// Targets are the URLs to wait for (see README for the schemes). A bare
	// host:port means tcp://host:port.
	Targets []string
	// Any makes wait succeed as soon as one target is ready.
	Any bool
	// Timeout is the overall deadline; 0 waits forever.
	Timeout time.Duration
	// AttemptTimeout bounds one check of one target; 0 means no bound.
	AttemptTimeout time.Duration
	// Interval is the wait after the first failed check; it doubles up to
	// MaxInterval. 0 means the retry defaults.
	Interval    time.Duration
	MaxInterval time.Duration
	// Stable is how many consecutive successful checks make a target ready;
	// 0 or 1 means the first success.
	Stable int
	// HTTP applies to every http:// and https:// target.
	HTTP HTTPOptions
	// TLS applies to every target that speaks TLS with initbox's own client
	// (https://, rediss://, grpcs://, and databases given no TLS settings in
	// their URL).
	TLS tlsconfig.Options
	// PasswordFile holds the password for database and cache targets whose
	// URL has none and no #password-file of their own.
	PasswordFile string
	// Kubeconfig and KubeContext select a kubeconfig for k8s:// targets;
	// empty means in-cluster config, then $KUBECONFIG, then ~/.kube/config.
	Kubeconfig, KubeContext string
	// Exec is the command run after success, checked here so that a typo
	// fails before the wait rather than after it. The CLI execs it.
	Exec []string
}

// HTTPOptions say how to check http(s) targets.
type HTTPOptions struct {
	// Method is the request method; "" means GET, or POST when a body is set.
	Method string
	// Body is sent with every attempt. BodyFile reads it from a file.
	Body     string
	BodyFile string
	// Headers are "Name: value" lines; ${VAR} in a value is replaced by the
	// environment variable VAR, and the result is treated as a secret.
	Headers []string
	// HeaderFiles are "Name=/path" pairs: the header's value is the file's
	// content (one trailing newline dropped), treated as a secret.
	HeaderFiles []string
	// Status lists the statuses that mean ready: codes, classes, ranges
	// ("200,204,3xx,400-404"); "" means 2xx.
	Status string
	// BodyRegex must match the response body (its first MiB).
	BodyRegex string
	// JSONPath selects a value in a JSON response (.status, .checks[0].ok).
	// Without JSONValue it must exist and be neither null nor false.
	JSONPath string
	// JSONValue is what the value at JSONPath must equal (strings as they
	// are, numbers as written, true/false/null, objects as compact JSON).
	// "" means no comparison.
	JSONValue string
	// FollowRedirects follows up to 10 redirects; otherwise a 3xx is the
	// status that is checked.
	FollowRedirects bool
}

// Validate checks the configuration without touching the network or reading
// any file the options name: it fails fast on bad URLs, options, flag
// combinations and a command after -- that cannot be found.
func (c Config) Validate() error {
	_, err := c.plan(context.Background(), false)
	return err
}

// plan parses everything. With load, it also reads the files the options
// name (header files, body file, TLS material).
func (c Config) plan(ctx context.Context, load bool) ([]*target, error) {
	if len(c.Targets) == 0 {
		return nil, errors.New("no targets: give at least one, e.g. tcp://db:5432 or http://api:8080/healthz")
	}
	if c.Timeout < 0 || c.AttemptTimeout < 0 || c.Interval < 0 || c.MaxInterval < 0 {
		return nil, errors.New("durations must not be negative")
	}
	if c.Stable < 0 {
		return nil, fmt.Errorf("--stable %d: want 1 or more", c.Stable)
	}
	if len(c.Exec) > 0 {
		if _, err := exec.LookPath(c.Exec[0]); err != nil {
			return nil, fmt.Errorf("command after --: %q not found or not executable; check the name and PATH", c.Exec[0])
		}
	}
	h, err := c.HTTP.settings(load)
	if err != nil {
		return nil, err
	}
	if err := c.TLS.Validate(); err != nil {
		return nil, err
	}
	if load {
		if h.tls, err = c.TLS.Config(ctx); err != nil {
			return nil, err
		}
	}
	targets := make([]*target, 0, len(c.Targets))
	for i, raw := range c.Targets {
		t, err := parseTarget(ctx, raw, &c, h, load)
		if err != nil {
			return nil, err
		}
		t.index = i
		if t.optional && c.Any {
			return nil, fmt.Errorf("target %s: #optional has no meaning with --any (any ready target is enough)", t.display)
		}
		targets = append(targets, t)
	}
	return targets, nil
}

func (o HTTPOptions) settings(load bool) (*httpSettings, error) {
	s := &httpSettings{method: strings.ToUpper(o.Method), header: http.Header{}, follow: o.FollowRedirects}
	var err error
	if s.status, err = parseStatus(o.Status); err != nil {
		return nil, fmt.Errorf("--status %w", err)
	}
	if o.BodyRegex != "" {
		if s.bodyRE, err = regexp.Compile(o.BodyRegex); err != nil {
			return nil, fmt.Errorf("--body-regex: %v", err)
		}
	}
	if o.JSONPath != "" {
		p, err := jsonpath.Parse(o.JSONPath)
		if err != nil {
			return nil, fmt.Errorf("--json-path: %w", err)
		}
		s.jsonPath = &p
	}
	if o.JSONValue != "" {
		if s.jsonPath == nil {
			return nil, errors.New("--json-value needs --json-path")
		}
		v := o.JSONValue
		s.jsonValue = &v
	}
	if o.Body != "" && o.BodyFile != "" {
		return nil, errors.New("--body and --body-file: give one")
	}
	hasBody := o.Body != "" || o.BodyFile != ""
	if s.method == "" {
		s.method = http.MethodGet
		if hasBody {
			s.method = http.MethodPost
		}
	}
	if !validToken(s.method) {
		return nil, fmt.Errorf("--method %q is not an HTTP method", o.Method)
	}
	s.body = []byte(o.Body)
	if load && o.BodyFile != "" {
		if s.body, err = os.ReadFile(o.BodyFile); err != nil {
			return nil, fmt.Errorf("--body-file: %w", err)
		}
	}
	for _, h := range o.Headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validToken(name) {
			return nil, fmt.Errorf("--header: want \"Name: value\", got a line without a valid name (%q)", name)
		}
		if value, err = expand.Secret(value); err != nil {
			return nil, fmt.Errorf("--header %s: %w", name, err)
		}
		s.header.Add(name, value)
	}
	for _, hf := range o.HeaderFiles {
		name, path, ok := strings.Cut(hf, "=")
		name = strings.TrimSpace(name)
		if !ok || !validToken(name) || path == "" {
			return nil, fmt.Errorf("--header-file: want Name=/path/to/file, got %q", hf)
		}
		value := ""
		if load {
			if value, err = redact.ReadSecretFile(path); err != nil {
				return nil, fmt.Errorf("--header-file %s: %w", name, err)
			}
			if strings.ContainsAny(value, "\r\n") {
				return nil, fmt.Errorf("--header-file %s: %s holds more than one line", name, path)
			}
		}
		s.header.Add(name, value)
	}
	return s, nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}

// result is what one target's wait ended with.
type result struct {
	t        *target
	err      error
	attempts int
	elapsed  time.Duration
}

// errAbandoned cancels targets whose outcome no longer matters.
var errAbandoned = errors.New("no longer needed")

// Run waits until the targets are ready. It returns nil on success; an error
// with exit code 2 for bad configuration, 124 when a deadline ran out (naming
// every target still not ready and its last error), 1 when a target failed
// in a way waiting cannot fix, or the signal's code when interrupted.
func Run(ctx context.Context, c Config) error {
	targets, err := c.plan(ctx, true)
	if err != nil {
		return exitcode.Usage(err)
	}
	start := time.Now()
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.display
	}
	mode := "all"
	if c.Any {
		mode = "any"
	}
	slog.InfoContext(ctx, "waiting for targets", "targets", names, "require", mode, "timeout", c.Timeout)

	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Optional targets without a timeout of their own are abandoned once
	// every required target is ready: they never make the wait longer.
	abandon := make(map[*target]context.CancelCauseFunc)
	results := make(chan result, len(targets))
	required := 0
	for _, t := range targets {
		tctx, tcancel := context.WithCancelCause(ctx)
		defer tcancel(nil)
		if t.optional && t.timeout == 0 {
			abandon[t] = tcancel
		}
		if !t.optional {
			required++
		}
		go func() { results <- t.wait(tctx, c) }()
	}

	var ready int
	var failed, abandoned []result
	for range targets {
		r := <-results
		switch {
		case r.err == nil:
			ready++
			slog.InfoContext(ctx, "target ready", "target", r.t.display, "attempts", r.attempts, "elapsed", r.elapsed.Round(time.Millisecond))
			if c.Any {
				cancel(errAbandoned)
			} else if !r.t.optional {
				required--
				if required == 0 {
					for _, ab := range abandon {
						ab(errAbandoned)
					}
				}
			}
		case r.t.optional:
			slog.WarnContext(ctx, "optional target not ready, going on without it", "target", r.t.display,
				"attempts", r.attempts, "error", cmp.Or(retry.Last(r.err), r.err))
		case errors.Is(r.err, errAbandoned):
			// Cancelled because the outcome was already decided; named in
			// a deadline message if it was still not ready.
			abandoned = append(abandoned, r)
		default:
			failed = append(failed, r)
			if !c.Any {
				// One required target failed: the wait cannot succeed.
				cancel(errAbandoned)
			}
		}
	}

	elapsed := time.Since(start)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errAbandoned) && !errors.Is(cause, context.DeadlineExceeded) {
		// Interrupted by a signal: its exit code, and what was still missing.
		return fmt.Errorf("%w; not ready: %s", cause, notReady(append(failed, abandoned...)))
	}
	if (c.Any && ready > 0) || (!c.Any && len(failed) == 0) {
		slog.InfoContext(ctx, "ready", "targets", ready, "elapsed", elapsed.Round(time.Millisecond))
		return nil
	}
	// A target that failed for good wins (exit 1); otherwise the deadline
	// error names every target still not ready, with its last error (124).
	for _, r := range failed {
		if !errors.Is(r.err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: %w", r.t.display, r.err)
		}
	}
	return exitcode.WithCode(exitcode.Deadline, fmt.Errorf("timed out after %s; not ready: %s",
		elapsed.Round(100*time.Millisecond), notReady(append(failed, abandoned...))))
}

// notReady lists targets with the last error of each, in the order they
// were given.
func notReady(rs []result) string {
	slices.SortFunc(rs, func(a, b result) int { return a.t.index - b.t.index })
	var parts []string
	for _, r := range rs {
		last := "no check finished"
		if err := retry.Last(r.err); err != nil {
			last = err.Error()
		}
		parts = append(parts, r.t.display+" ("+last+")")
	}
	return strings.Join(parts, "; ")
}

// wait runs one target's retry loop.
func (t *target) wait(ctx context.Context, c Config) result {
	if t.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	stable := max(c.Stable, 1)
	if t.stable > 0 {
		stable = t.stable
	}
	attemptTimeout := c.AttemptTimeout
	if t.attemptTimeout > 0 {
		attemptTimeout = t.attemptTimeout
	}
	interval := c.Interval
	if interval <= 0 {
		interval = retry.DefaultInterval
	}

	start := time.Now()
	r := result{t: t}
	successes := 0
	policy := retry.Policy{
		Name:           t.display,
		Interval:       c.Interval,
		MaxInterval:    c.MaxInterval,
		AttemptTimeout: attemptTimeout,
		Report: func(a retry.Attempt) {
			slog.InfoContext(ctx, "target not ready", "target", t.display, "attempt", a.N,
				"elapsed", a.Elapsed.Round(time.Millisecond), "error", a.Err)
		},
	}
	err := retry.Do(ctx, policy, func(ctx context.Context) error {
		r.attempts++
		err := t.checker.Check(ctx)
		if err != nil {
			successes = 0
			if !check.IsNotReady(err) {
				return retry.Permanent(err)
			}
			return err
		}
		successes++
		if successes < stable {
			// Not a failure: check again at the base pace.
			return retry.After(interval, fmt.Errorf("ready in %d of %d consecutive checks", successes, stable))
		}
		return nil
	})
	r.err, r.elapsed = err, time.Since(start)
	return r
}
