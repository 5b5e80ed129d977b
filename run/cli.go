package run

import (
	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
)

// Command returns the `run` command; exec runs one step in this process.
// This file is the only one in the package that knows about the command
// line.
func Command(exec Exec) *cli.Command {
	var c Config
	var w clix.Watch
	env := func(flag string) []string { return clix.Env("run", flag) }
	return &cli.Command{
		Name:      "run",
		Usage:     "run several steps (wait, fetch, render, seed) in order, in one container",
		ArgsUsage: "PLAN",
		UsageText: `initbox run [--check] [--watch] PLAN.yaml`,
		Description: `A plan lists steps; each is one command with the same options as its flags:

  version: 1
  timeout: 5m                      # for all steps together
  steps:
    - name: database
      wait: {targets: ["postgres://app@db:5432/app"], password-file: /secrets/pg}
    - fetch: {refs: ["vault://secret/app/db"], out: /secrets/db.env, auth: kubernetes, role: app}
    - render: {src: /templates/, out: /config/, values: [/config/values.yaml]}
    - seed: {source: /seed-data, target: /data, if-empty: true}

Arguments are the options targets (wait), refs (fetch), src (render), source
and target (seed); every other option is the flag of that name. Steps run in
order and stop at the first failure, with that step's exit code. --check
validates the plan and every step's options without running anything.

--watch runs the plan as a native sidecar: each step's first pass in order
as above, then every fetch, render and seed step stays up and keeps its
output fresh (their --watch, at the plan's --refresh unless a step sets
its own; watch: false on a step runs it once; a seed from an archive or
with if-empty runs once). A render step also re-renders when an earlier
step republished. --health-addr answers /readyz once every step's first
pass is done; --on-change-* tell the application of a change by any step.
The JSON Schema of a plan is run/plan.schema.json.`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "validate the plan and every step's options; run nothing", EnvVars: env("check"), Destination: &c.Check},
			&cli.DurationFlag{Name: "timeout", Usage: "overall deadline for all steps (default: the plan's; with --watch, for their first passes)", EnvVars: env("timeout"), Destination: &c.Timeout},
		}, clix.WatchFlags("run", "every fetch, render and seed step stays up; render re-renders when an earlier step republished", &w)...),
		Action: func(ctx *cli.Context) error {
			args, tail := clix.Args(ctx)
			if len(tail) > 0 || len(args) != 1 {
				return exitcode.Usagef("run takes one PLAN file, got %d arguments", len(args)+len(tail))
			}
			c.Plan = args[0]
			c.Watch = w.Get()
			return Run(ctx.Context, c, exec)
		},
	}
}
