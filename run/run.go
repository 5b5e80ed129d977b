package run

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
)

// Config is one run of a plan.
type Config struct {
	Plan string
	// Check validates the plan and every step's options without running.
	Check bool
	// Timeout overrides the plan's overall timeout (0: the plan's; none).
	Timeout time.Duration
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
	timeout := p.Timeout
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	if c.Check {
		for i, s := range p.Steps {
			if code := exec(ctx, s.Argv, true); code != 0 {
				return exitcode.WithCode(code, fmt.Errorf("plan %s: %s (%d of %d, %s) is not valid; see the error above", c.Plan, s.Name, i+1, len(p.Steps), s.Command))
			}
		}
		slog.InfoContext(ctx, "plan is valid", "plan", c.Plan, "steps", len(p.Steps))
		return nil
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
