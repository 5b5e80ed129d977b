package retry

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
)

var fast = Policy{Interval: time.Millisecond, MaxInterval: 2 * time.Millisecond}

func TestFirstTryImmediateAndSuccess(t *testing.T) {
	calls := 0
	start := time.Now()
	err := Do(t.Context(), Policy{Interval: time.Hour}, func(context.Context) error {
		calls++
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("err=%v calls=%d, want nil and 1", err, calls)
	}
	// An hour-long interval proves the first call did not wait for it.
	if time.Since(start) > time.Minute {
		t.Fatal("first attempt waited for the interval")
	}
}

func TestRetriesUntilSuccess(t *testing.T) {
	calls := 0
	err := Do(t.Context(), fast, func(context.Context) error {
		calls++
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("err=%v calls=%d, want nil and 4", err, calls)
	}
}

func TestPermanentStopsAtOnce(t *testing.T) {
	calls := 0
	bad := errors.New("401 unauthorized")
	err := Do(t.Context(), fast, func(context.Context) error {
		calls++
		return Permanent(bad)
	})
	if calls != 1 {
		t.Fatalf("calls = %d, want 1", calls)
	}
	if !errors.Is(err, bad) || IsPermanent(err) {
		t.Fatalf("err = %v; want the unmarked cause", err)
	}
}

func TestDeadlineKeepsLastRealError(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	var calls atomic.Int32
	err := Do(ctx, fast, func(ctx context.Context) error {
		if calls.Add(1) > 3 {
			<-ctx.Done() // the attempt is cut by the deadline
			return ctx.Err()
		}
		return errors.New("connection refused")
	})
	var de *DeadlineError
	if !errors.As(err, &de) {
		t.Fatalf("err = %T %v, want *DeadlineError", err, err)
	}
	if de.Last == nil || de.Last.Error() != "connection refused" || Last(err) != de.Last {
		t.Errorf("Last = %v, want the last real error", de.Last)
	}
	if exitcode.Of(err) != exitcode.Deadline {
		t.Errorf("exit code = %d, want 124", exitcode.Of(err))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is(err, DeadlineExceeded) = false")
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("message %q does not name the last error", err)
	}
}

// pastDeadline is a context whose deadline has passed but that is not yet
// marked done: the moment between a timer's instant and its callback.
type pastDeadline struct {
	context.Context
	at time.Time
}

func (p pastDeadline) Deadline() (time.Time, bool) { return p.at, true }

// An attempt that fails after the deadline passed, before the context is
// marked done (a dial's own deadline fired first: "i/o timeout"), is cut
// short like one the context stopped: the previous real error stays the
// last error, and the error is a deadline (124).
func TestAttemptEndingPastTheDeadlineIsCutShort(t *testing.T) {
	ctx := pastDeadline{t.Context(), time.Now().Add(30 * time.Millisecond)}
	var calls atomic.Int32
	err := Do(ctx, fast, func(context.Context) error {
		if calls.Add(1) == 1 {
			return errors.New("connection refused")
		}
		time.Sleep(time.Until(ctx.at) + time.Millisecond)
		if calls.Load() > 2 {
			return Permanent(errors.New("attempted again after the deadline"))
		}
		return errors.New("dial tcp: i/o timeout")
	})
	var de *DeadlineError
	if !errors.As(err, &de) || de.Last == nil || de.Last.Error() != "connection refused" {
		t.Fatalf("err = %v, want a *DeadlineError whose last error is the refusal", err)
	}
	if exitcode.Of(err) != exitcode.Deadline {
		t.Errorf("exit code %d, want 124", exitcode.Of(err))
	}
}

func TestCancelReturnsCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := &exitcode.Interrupted{Signal: syscall.SIGTERM}
	err := Do(ctx, fast, func(context.Context) error {
		cancel(cause)
		return errors.New("refused")
	})
	if !errors.Is(err, cause) || exitcode.Of(err) != exitcode.SIGTERM {
		t.Fatalf("err = %v (code %d), want the SIGTERM cause", err, exitcode.Of(err))
	}
	if Last(err) == nil || Last(err).Error() != "refused" || !strings.Contains(err.Error(), "last error: refused") {
		t.Fatalf("err = %v; want the last real error kept", err)
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	calls := 0
	p := fast
	p.AttemptTimeout = 10 * time.Millisecond
	err := Do(t.Context(), p, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			<-ctx.Done()
			// Even an op that calls its timeout permanent is retried: the
			// attempt's own deadline is ours, not the target's verdict.
			return Permanent(ctx.Err())
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("err=%v calls=%d, want nil and 2", err, calls)
	}
}

func TestAfterOverridesBackoff(t *testing.T) {
	var reports []Attempt
	p := Policy{Interval: time.Hour, MaxInterval: time.Hour, Report: func(a Attempt) { reports = append(reports, a) }}
	calls := 0
	err := Do(t.Context(), p, func(context.Context) error {
		calls++
		if calls == 1 {
			return After(time.Millisecond, errors.New("429 Retry-After: 0.001"))
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("err=%v calls=%d", err, calls)
	}
	if len(reports) != 1 || reports[0].Next != time.Millisecond {
		t.Fatalf("reports = %+v, want one with Next=1ms", reports)
	}
}

func TestReportIsRateLimited(t *testing.T) {
	var reports int
	p := fast
	p.ReportEvery = time.Hour
	p.Report = func(Attempt) { reports++ }
	calls := 0
	_ = Do(t.Context(), p, func(context.Context) error {
		calls++
		if calls < 20 {
			return errors.New("not yet")
		}
		return nil
	})
	if reports != 1 {
		t.Fatalf("Report called %d times over 19 failures within ReportEvery, want 1", reports)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	var nexts []time.Duration
	p := Policy{Interval: 10 * time.Millisecond, MaxInterval: 40 * time.Millisecond, ReportEvery: time.Nanosecond,
		Report: func(a Attempt) { nexts = append(nexts, a.Next) }}
	calls := 0
	_ = Do(t.Context(), p, func(context.Context) error {
		calls++
		if calls < 6 {
			return errors.New("not yet")
		}
		return nil
	})
	if len(nexts) != 5 {
		t.Fatalf("got %d reports, want 5", len(nexts))
	}
	lo := func(d time.Duration) time.Duration { return time.Duration(float64(d) * (1 - Jitter)) }
	hi := func(d time.Duration) time.Duration { return time.Duration(float64(d) * (1 + Jitter)) }
	want := []time.Duration{10, 20, 40, 40, 40}
	for i, w := range want {
		w *= time.Millisecond
		if nexts[i] < lo(w) || nexts[i] > hi(w) {
			t.Errorf("wait %d = %v, want %v ±%v%%", i, nexts[i], w, Jitter*100)
		}
	}
}

func TestDeadlineDuringFirstAttempt(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := Do(ctx, fast, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if Last(err) == nil || !strings.Contains(Last(err).Error(), "no answer before the end") {
		t.Fatalf("Last = %v; want it to say the attempt never answered", Last(err))
	}
}
