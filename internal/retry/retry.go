// Package retry is the one retry layer every initbox command uses
// (docs/design.md §4): exponential backoff with jitter on cenkalti/backoff/v4, the
// first try immediately, no elapsed-time limit of its own (the context
// decides), one deadline per attempt, and the last real error kept and
// reported when the context ends.
//
//	err := retry.Do(ctx, retry.Policy{Interval: 100 * time.Millisecond, MaxInterval: time.Second},
//		func(ctx context.Context) error {
//			err := check(ctx)
//			if isBadInput(err) {
//				return retry.Permanent(err) // fail at once
//			}
//			return err // retried
//		})
package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/initbox/initbox/internal/exitcode"
)

// Defaults used when a Policy field is zero.
const (
	DefaultInterval    = 100 * time.Millisecond
	DefaultMaxInterval = time.Second
	DefaultReportEvery = 5 * time.Second

	// Multiplier and Jitter shape the backoff: each wait is about twice the
	// previous one, up to MaxInterval, randomised by ±20% so that many pods
	// restarted together do not retry in lockstep.
	Multiplier = 2.0
	Jitter     = 0.2
)

// Policy says how to retry.
type Policy struct {
	// Name describes what is retried, for debug logs. It must already be
	// redacted.
	Name string
	// Interval is the wait after the first failure.
	Interval time.Duration
	// MaxInterval caps the wait between attempts (before jitter).
	MaxInterval time.Duration
	// AttemptTimeout bounds one attempt; 0 means only the context bounds it.
	AttemptTimeout time.Duration
	// Report, if set, is called with the first failed attempt and then at
	// most once every ReportEvery, so that a command can log progress without
	// flooding the log.
	Report func(Attempt)
	// ReportEvery is the minimum time between two Report calls.
	ReportEvery time.Duration
}

// Attempt describes a failed attempt, for Report.
type Attempt struct {
	N       int           // 1 for the first attempt
	Elapsed time.Duration // since Do started
	Err     error         // why the attempt failed
	Next    time.Duration // wait before the next attempt
}

// Do calls op until it returns nil, returns an error marked Permanent, or ctx
// ends. The first call is immediate. When ctx's deadline passes, Do returns a
// *DeadlineError; when ctx is cancelled for another reason (a signal), a
// *StoppedError that unwraps to context.Cause(ctx). Both hold the last real
// error: an attempt cut short by the end of ctx does not replace it.
func Do(ctx context.Context, p Policy, op func(context.Context) error) error {
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = DefaultMaxInterval
	}
	if p.MaxInterval < p.Interval {
		p.MaxInterval = p.Interval
	}
	if p.ReportEvery <= 0 {
		p.ReportEvery = DefaultReportEvery
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.Interval),
		backoff.WithMaxInterval(p.MaxInterval),
		backoff.WithMultiplier(Multiplier),
		backoff.WithRandomizationFactor(Jitter),
		backoff.WithMaxElapsedTime(0),
	)
	b.Reset()

	start := time.Now()
	var last error
	var lastReport time.Time
	for n := 1; ; n++ {
		if over(ctx) {
			return ended(ctx, last, n-1, time.Since(start))
		}
		err := attempt(ctx, p.AttemptTimeout, op)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if over(ctx) {
			// The attempt was cut short by the overall deadline or a signal.
			// Its error says only that; keep the previous real one if any.
			if last == nil {
				last = err
				if isTimeout(err) {
					last = fmt.Errorf("no answer before the end: %w", err)
				}
			}
			return ended(ctx, last, n, time.Since(start))
		}
		last = err

		next := b.NextBackOff()
		var after *afterError
		if errors.As(err, &after) {
			next = after.d
		}
		a := Attempt{N: n, Elapsed: time.Since(start), Err: err, Next: next}
		slog.DebugContext(ctx, "attempt failed", "what", p.Name, "attempt", a.N,
			"elapsed", a.Elapsed.Round(time.Millisecond), "retry_in", next.Round(time.Millisecond), "error", err)
		if p.Report != nil && (lastReport.IsZero() || time.Since(lastReport) >= p.ReportEvery) {
			lastReport = time.Now()
			p.Report(a)
		}

		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return ended(ctx, last, n, time.Since(start))
		case <-t.C:
		}
	}
}

var errAttemptTimeout = errors.New("attempt timed out")

// isTimeout reports whether err only says that time ran out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// attempt runs op once under its own deadline. An attempt that ran out of
// its own time is always retryable, whatever op made of the error.
func attempt(ctx context.Context, timeout time.Duration, op func(context.Context) error) error {
	if timeout <= 0 {
		return op(ctx)
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
	defer cancel()
	err := op(actx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), errAttemptTimeout) {
		var perm *permanentError
		if errors.As(err, &perm) {
			err = perm.err
		}
		return fmt.Errorf("attempt timed out after %s: %w", timeout, err)
	}
	return err
}

// over reports whether ctx has ended — also in the moment after its
// deadline passed and before its timer marked it done: a dial's deadline,
// set from the same instant, can fire first, and its "i/o timeout" would
// pass for the last real error.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func ended(ctx context.Context, last error, attempts int, elapsed time.Duration) error {
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(cause, context.DeadlineExceeded) { // nil: past the deadline, not yet marked
		return &DeadlineError{Last: last, Attempts: attempts, Elapsed: elapsed}
	}
	return &StoppedError{Cause: cause, Last: last, Attempts: attempts}
}

// Last returns the last real error held by a *DeadlineError or
// *StoppedError in err's chain, or nil.
func Last(err error) error {
	var de *DeadlineError
	if errors.As(err, &de) {
		return de.Last
	}
	var se *StoppedError
	if errors.As(err, &se) {
		return se.Last
	}
	return nil
}

// StoppedError is returned when ctx was cancelled, not by its deadline,
// while Do was still retrying. It unwraps to the cancellation cause, so the
// exit code of a signal survives.
type StoppedError struct {
	Cause    error
	Last     error // the last real error, nil if no attempt finished
	Attempts int
}

func (e *StoppedError) Error() string {
	if e.Last == nil {
		return e.Cause.Error()
	}
	return e.Cause.Error() + "; last error: " + e.Last.Error()
}

func (e *StoppedError) Unwrap() error { return e.Cause }

// DeadlineError is returned when the context's deadline passed while Do was
// still retrying. It exits with code 124.
type DeadlineError struct {
	Last     error // the last real error, nil if no attempt finished
	Attempts int
	Elapsed  time.Duration
}

func (e *DeadlineError) Error() string {
	s := fmt.Sprintf("timed out after %s and %d attempts", e.Elapsed.Round(100*time.Millisecond), e.Attempts)
	if e.Last != nil {
		s += ", last error: " + e.Last.Error()
	}
	return s
}

// ExitCode is 124, as timeout(1) reports.
func (e *DeadlineError) ExitCode() int { return exitcode.Deadline }

// Is makes errors.Is(err, context.DeadlineExceeded) hold.
func (e *DeadlineError) Is(target error) bool { return target == context.DeadlineExceeded }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: Do returns it at once. A nil err
// stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type afterError struct {
	d   time.Duration
	err error
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }

// After asks Do to wait exactly d before the next attempt instead of the
// backoff interval: for a server's Retry-After, or a fixed pace between
// checks. The backoff keeps growing underneath.
func After(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &afterError{d: d, err: err}
}
