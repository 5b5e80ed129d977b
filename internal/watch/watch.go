// Package watch is the second mode of fetch, render, seed and run
// (--watch): after the first pass, which is the command as it runs without
// the flag, the process stays up beside the application as a native
// sidecar and keeps its outputs fresh — each later pass goes through the
// same atomic publish, a failed one keeps what is published, and a change
// can be announced to the application (Notifier). A health endpoint
// (--health-addr) answers /readyz once the first pass is done, so that a
// startupProbe or compose's service_healthy holds the application until its
// files exist.
//
//	err := watch.Run(ctx, watch.Options{Command: "fetch", Refresh: time.Minute},
//		func(ctx context.Context, first bool) (watch.Report, error) {
//			changed, err := fetchOnce(ctx)
//			return watch.Report{Changed: changed}, err
//		})
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
)

// Defaults for Options' zero fields.
const (
	DefaultRefresh     = time.Minute
	DefaultInterval    = time.Second      // the first wait after a failed pass
	DefaultMaxInterval = 30 * time.Second // the longest, before jitter
	// Settle is how long a burst of wake-ups (files changing one after
	// another) is waited out before a pass runs.
	Settle = 200 * time.Millisecond
	// Jitter spreads a pass's time by ±10%, so that the sidecars of a
	// Deployment's pods do not poll in step.
	Jitter = 0.1
)

// RestAfter is the shortest sleep before which the process gives its
// memory back (rest): giving back the binary's pages costs the next pass
// their page faults, worth it only when passes are far apart (measured:
// 0.75 s of CPU per 10 minutes at a 5 s refresh with it, against Vault
// Agent's 0.44 s).
const RestAfter = 30 * time.Second

// minRefresh is the shortest --refresh (tests lower it).
var minRefresh = time.Second

// Options configure the loop.
type Options struct {
	// Command names the command, for logs and metrics.
	Command string
	// Refresh is the time between two passes when nothing asks for one
	// sooner; 0 means DefaultRefresh.
	Refresh time.Duration
	// PassTimeout bounds each pass after the first (the first is bounded by
	// the command's own --timeout); 0 means none.
	PassTimeout time.Duration
	// Interval and MaxInterval shape the backoff after a failed pass; 0
	// means the defaults. MaxInterval never exceeds Refresh.
	Interval, MaxInterval time.Duration
	// HealthAddr, if set, is where /readyz, /healthz and /metrics are
	// served (":8099").
	HealthAddr string
	// Notify says how the application is told of a change.
	Notify Notify
	// Wake, if set, asks for a pass now (a watched file changed).
	Wake <-chan struct{}
	// Upstream, in a plan's step (Group), asks for a pass when an earlier
	// step republished.
	Upstream bool
}

// Report is what a pass did.
type Report struct {
	// Changed names what was republished (references, files; safe to log),
	// empty when nothing changed.
	Changed []string
	// Next, if set, is when a pass is due before Refresh has passed (a
	// lease to renew).
	Next time.Time
	// Expiries are the lease or certificate expiries per reference, for
	// /metrics.
	Expiries map[string]time.Time
}

// Pass brings the outputs up to date once; first says it is the first pass.
type Pass func(ctx context.Context, first bool) (Report, error)

// Run runs the first pass and returns its error as it is (the command's own
// exit code). After it, Run keeps passing until ctx ends, and then returns
// nil: a sidecar that is stopped has done its job. A pass cut short by the
// end of ctx publishes nothing (the publishers stage, then swap).
func Run(ctx context.Context, o Options, do Pass) error {
	if err := o.Validate(); err != nil {
		return exitcode.Usage(err)
	}
	o = o.withDefaults()
	m := newMetrics(o.Command)
	// A step of a plan reports to the plan (Group): its readiness, its
	// changes, and it is woken by the steps before it.
	mem := memberOf(ctx)
	var upstream <-chan struct{}
	if mem != nil {
		if o.HealthAddr != "" {
			return exitcode.Usage(errStepHealth)
		}
		m, upstream = mem.join(o)
	}
	if o.HealthAddr != "" {
		stop, err := serveHealth(o.HealthAddr, m, func() []*metrics { return []*metrics{m} })
		if err != nil {
			return err
		}
		defer stop()
	}
	start := time.Now()
	rep, err := do(ctx, true)
	if err != nil {
		return err
	}
	m.passed(rep, start, time.Now())
	m.setReady()
	if mem != nil {
		mem.setReady()
	}
	n := newNotifier(o.Notify, m)
	nctx, stopNotifier := context.WithCancel(ctx)
	notified := make(chan struct{})
	go func() { n.run(nctx); close(notified) }()
	defer func() { stopNotifier(); <-notified }()

	failures := 0
	for pass := 0; ; pass++ {
		next := o.next(rep, failures)
		m.setNext(next)
		if time.Until(next) >= RestAfter {
			rest()
		}
		if pass == 0 {
			slog.InfoContext(ctx, "watching", "command", o.Command, "refresh", o.Refresh, "next", next.Round(time.Second).Format(time.RFC3339))
		} else {
			slog.DebugContext(ctx, "next refresh", "command", o.Command, "next", next.Round(time.Second).Format(time.RFC3339))
		}
		if !o.sleep(ctx, next, upstream) {
			slog.InfoContext(ctx, "stopped watching", "command", o.Command)
			return nil
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.PassTimeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, o.PassTimeout)
		}
		start := time.Now()
		r, err := do(pctx, false)
		cancel()
		if ctx.Err() != nil {
			slog.InfoContext(ctx, "stopped watching", "command", o.Command, "abandoned", "a refresh in progress")
			return nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if err != nil {
			failures++
			m.failed()
			slog.WarnContext(ctx, "refresh failed; the published files are kept", "command", o.Command, "failures", failures, "error", err)
			continue
		}
		if failures > 0 {
			slog.InfoContext(ctx, "refresh recovered", "command", o.Command, "after_failures", failures)
		}
		failures, rep = 0, r
		m.passed(rep, start, time.Now())
		if len(rep.Changed) > 0 {
			m.changed()
			n.changed(rep.Changed)
			if mem != nil {
				mem.changed(rep.Changed)
			}
		}
	}
}

// Fatal marks a pass's error as one the process cannot recover from (a
// template that never returns still runs): Run returns it, and the pod
// restarts the sidecar.
func Fatal(err error) error { return &fatalError{err} }

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Validate checks the options without side effects.
func (o Options) Validate() error {
	if o.Refresh < 0 || o.PassTimeout < 0 || o.Interval < 0 || o.MaxInterval < 0 {
		return errors.New("--refresh and the backoff must not be negative")
	}
	if o.Refresh > 0 && o.Refresh < minRefresh {
		return fmt.Errorf("--refresh %s: at least 1s (a source polled faster than that is better watched another way)", o.Refresh)
	}
	if o.HealthAddr != "" {
		if _, _, err := net.SplitHostPort(o.HealthAddr); err != nil {
			return fmt.Errorf("--health-addr %q: write HOST:PORT or :PORT (e.g. :8099)", o.HealthAddr)
		}
	}
	return o.Notify.Validate()
}

func (o Options) withDefaults() Options {
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxInterval == 0 {
		o.MaxInterval = DefaultMaxInterval
	}
	o.MaxInterval = min(o.MaxInterval, o.Refresh)
	o.Interval = min(o.Interval, o.MaxInterval)
	return o
}

// next is when the next pass runs: after a failure, the backoff; else the
// sooner of Refresh and what the last pass asked for, jittered.
func (o Options) next(rep Report, failures int) time.Time {
	now := time.Now()
	if failures > 0 {
		d := o.Interval << min(failures-1, 20)
		if d <= 0 || d > o.MaxInterval {
			d = o.MaxInterval
		}
		return now.Add(jitter(d))
	}
	at := now.Add(jitter(o.Refresh))
	if !rep.Next.IsZero() && rep.Next.Before(at) {
		at = rep.Next
	}
	return at
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + Jitter*(2*rand.Float64()-1)))
}

// sleep waits until at, or until a wake-up (o.Wake, or upstream: an
// earlier step of the plan republished) has settled; false when ctx ended.
func (o Options) sleep(ctx context.Context, at time.Time, upstream <-chan struct{}) bool {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-o.Wake:
	case <-upstream:
	}
	// Settle: a ConfigMap update or an editor's save is several events.
	settle := time.NewTimer(Settle)
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-o.Wake:
			settle.Reset(Settle)
		case <-upstream:
			settle.Reset(Settle)
		case <-settle.C:
			return true
		}
	}
}

// serveHealth serves /readyz (m's readiness), /healthz and /metrics (the
// series) on addr until stop.
func serveHealth(addr string, m *metrics, series func() []*metrics) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, exitcode.WithCode(exitcode.Failure, fmt.Errorf("--health-addr %s: %w (is another process on that port?)", addr, err))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !m.isReady() {
			http.Error(w, "the first pass has not completed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	// Liveness stays good while the source is away: restarting the sidecar
	// would not bring Vault back, and its first pass would fail.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, series())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		MaxHeaderBytes: 8 << 10}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
