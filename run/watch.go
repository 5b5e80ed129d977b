package run

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/watch"
)

// watches names the commands that keep their output fresh in a watched
// plan; a wait step runs once.
var watches = map[string]bool{"fetch": true, "render": true, "seed": true}

// watchArgv is a step's argv in a watched plan: --watch and the plan's
// --refresh unless the step sets them (watch: false runs it once).
func watchArgv(s Step, o watch.Options) []string {
	if !watches[s.Command] {
		return s.Argv
	}
	argv := slices.Clone(s.Argv)
	if !hasFlag(s, "watch") {
		argv = append(argv, "--watch")
	}
	if !hasFlag(s, "refresh") && o.Refresh > 0 {
		argv = append(argv, "--refresh="+o.Refresh.String())
	}
	return argv
}

// hasFlag reports whether the plan sets a step's option.
func hasFlag(s Step, name string) bool {
	_, ok := flagValue(s, name)
	return ok
}

// flagValue is the value the plan gives a step's option (the last, as the
// command's flag parser takes it).
func flagValue(s Step, name string) (string, bool) {
	for _, a := range slices.Backward(s.Argv[1:]) {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkWatch refuses the options that belong to the plan, not to a step.
func checkWatch(p *Plan, watched bool) error {
	for i, s := range p.Steps {
		// As the command reads a bool flag: true, True, 1, t, …
		v, set := flagValue(s, "watch")
		on, _ := strconv.ParseBool(v)
		switch {
		case !watched && set && on:
			return fmt.Errorf("%s (%d of %d, %s): watch: true would keep this step running and the steps after it waiting; run the plan with run --watch", s.Name, i+1, len(p.Steps), s.Command)
		case watched && hasFlag(s, "health-addr"):
			return fmt.Errorf("%s (%d of %d, %s): health-addr belongs to the plan: give run --watch --health-addr", s.Name, i+1, len(p.Steps), s.Command)
		}
	}
	return nil
}

type ended struct {
	step int
	code int
}

// runWatched runs a watched plan: each step's first pass in order, as
// without --watch (a step that fails stops the plan with its exit code,
// within the plan's timeout), each fetch, render and seed step then
// staying up; the plan is ready when the last step's first pass is done.
// A step that stops watching on its own (a runaway template) stops the
// plan with its code; the end of ctx stops every step and Run returns nil.
func runWatched(ctx context.Context, c Config, p *Plan, timeout time.Duration, exec Exec) error {
	o := *c.Watch
	o.Command = "run"
	g, err := watch.NewGroup(o)
	if err != nil {
		return err
	}
	stop, err := g.Start(ctx)
	if err != nil {
		return err
	}
	defer stop()

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan ended, len(p.Steps))
	running := 0
	// Every step still running is stopped and waited for before Run returns.
	defer func() {
		cancel(context.Canceled)
		for ; running > 0; running-- {
			<-done
		}
	}()
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	failed := func(e ended) error {
		s := p.Steps[e.step]
		return exitcode.WithCode(e.code, fmt.Errorf("%s (%d of %d, %s) failed with exit %d; the plan stopped", s.Name, e.step+1, len(p.Steps), s.Command, e.code))
	}
	start := time.Now()
	for i, s := range p.Steps {
		slog.InfoContext(ctx, "step", "n", fmt.Sprintf("%d/%d", i+1, len(p.Steps)), "name", s.Name, "command", s.Command)
		stepStart := time.Now()
		mctx, m := g.Join(sctx, s.Name, s.Command)
		argv := watchArgv(s, o)
		running++
		go func() { done <- ended{i, exec(mctx, argv, false)} }()
	wait:
		for {
			select {
			case <-m.Ready():
				slog.InfoContext(ctx, "step watching", "name", s.Name, "elapsed", time.Since(stepStart).Round(time.Millisecond))
				break wait
			case e := <-done:
				running--
				if e.code != 0 {
					return failed(e)
				}
				if e.step == i {
					slog.InfoContext(ctx, "step done", "name", s.Name, "elapsed", time.Since(stepStart).Round(time.Millisecond))
					break wait
				}
			case <-deadline:
				return exitcode.WithCode(exitcode.Deadline, fmt.Errorf("the plan's timeout (%s) ran out before every step's first pass was done: %s (%d of %d, %s) was still running", timeout, s.Name, i+1, len(p.Steps), s.Command))
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
	}
	g.SetReady()
	slog.InfoContext(ctx, "plan watching", "steps", len(p.Steps), "watching", running, "elapsed", time.Since(start).Round(time.Millisecond))
	if running == 0 {
		// A sidecar that exits is restarted, and would run its plan again.
		slog.WarnContext(ctx, "no step of this plan watches (wait steps, one-time seeds); staying up until stopped", "plan", c.Plan)
	}
	for {
		select {
		case e := <-done:
			running--
			if e.code != 0 {
				return failed(e)
			}
		case <-ctx.Done():
			slog.InfoContext(ctx, "stopped watching", "command", "run")
			return nil
		}
	}
}
