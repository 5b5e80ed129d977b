package run

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/watch"
)

// Config is one run of a plan.
type Config struct {
	Plan string
	// Check validates the plan and every step's options without running.
	Check bool
	// Timeout overrides the plan's overall timeout (0: the plan's; none).
	// With Watch it bounds the first pass of every step.
	Timeout time.Duration
	// Watch, if set, keeps every fetch, render and seed step of the plan
	// running after its first pass (their --watch), a render step also
	// re-rendering when an earlier step republished; the plan is ready once
	// every step's first pass is done.
	Watch *watch.Options
}

// Exec runs one step's argv (command first) in this process and returns its
// exit code; check asks the command to validate its options and stop.
type Exec func(ctx context.Context, argv []string, check bool) int

// Run executes the plan's steps in order and stops at the first failure,
// with that step's exit code.
func Run(ctx context.Context, c Config, exec Exec) error {
	p, err := Load(c.Plan)
	if err != nil {
		return exitcode.Usage(err)
	}
	if err := checkWatch(p, c.Watch != nil); err != nil {
		return exitcode.Usage(fmt.Errorf("plan %s: %w", c.Plan, err))
	}
	timeout := p.Timeout
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	if c.Check {
		var g *watch.Group
		if c.Watch != nil {
			var err error
			if g, err = watch.NewGroup(*c.Watch); err != nil {
				return err
			}
		}
		for i, s := range p.Steps {
			sctx, argv := ctx, s.Argv
			if g != nil {
				sctx, _ = g.Join(ctx, s.Name, s.Command)
				argv = watchArgv(s, *c.Watch)
			}
			if code := exec(sctx, argv, true); code != 0 {
				return exitcode.WithCode(code, fmt.Errorf("plan %s: %s (%d of %d, %s) is not valid; see the error above", c.Plan, s.Name, i+1, len(p.Steps), s.Command))
			}
		}
		slog.InfoContext(ctx, "plan is valid", "plan", c.Plan, "steps", len(p.Steps))
		return nil
	}
	if c.Watch != nil {
		return runWatched(ctx, c, p, timeout, exec)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	for i, s := range p.Steps {
		slog.InfoContext(ctx, "step", "n", fmt.Sprintf("%d/%d", i+1, len(p.Steps)), "name", s.Name, "command", s.Command)
		stepStart := time.Now()
		if code := exec(ctx, s.Argv, false); code != 0 {
			return exitcode.WithCode(code, fmt.Errorf("%s (%d of %d, %s) failed with exit %d; the steps after it did not run", s.Name, i+1, len(p.Steps), s.Command, code))
		}
		slog.InfoContext(ctx, "step done", "name", s.Name, "elapsed", time.Since(stepStart).Round(time.Millisecond))
	}
	slog.InfoContext(ctx, "plan done", "steps", len(p.Steps), "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}
