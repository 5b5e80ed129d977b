package app

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/exitcode"
)

// links maps the names the binary may be called by (busybox style) to the
// command they run. The image has a symlink for each (see Makefile LINKS).
var links = map[string]string{
	"wait-for":     "wait",
	"fetch-config": "fetch",
}

// normalize turns os.Args into what urfave/cli parses. It chooses the command
// from argv[0] (a link such as wait-for) or from the first argument, moves
// flags given before the command name after it, and moves every flag of the
// command in front of its positional arguments, followed by "--": urfave/cli
// v2 stops parsing flags at the first positional, and a manifest's
// args: [wait, tcp://db:5432, --timeout, 60s] must work. A "--" typed by the
// user is kept, after the positionals, for commands that take a tail (wait's
// command to exec).
//
// It returns the rewritten argv and the command name ("" for the app itself).
func normalize(args []string, cmds []*cli.Command) ([]string, string, error) {
	if len(args) == 0 {
		args = []string{"initbox"}
	}
	prog, rest := args[0], slices.Clone(args[1:])
	if name, ok := links[filepath.Base(prog)]; ok {
		rest = append([]string{name}, rest...)
	}

	// Flags before the command name (initbox --log-format json wait …).
	var pre []string
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "-" {
		switch rest[0] {
		case "-h", "--help", "-help":
			return []string{prog, "help"}, "", nil
		case "--version", "-version":
			return []string{prog, "version"}, "version", nil
		}
		n := 1
		if !strings.Contains(rest[0], "=") && len(rest) > 1 {
			n = 2 // every flag allowed before the command takes a value
		}
		pre, rest = append(pre, rest[:n]...), rest[n:]
	}
	if len(rest) == 0 {
		if len(pre) > 0 {
			return nil, "", exitcode.Usagef("no command after %s; run 'initbox help'", strings.Join(pre, " "))
		}
		return []string{prog}, "", nil
	}
	name := rest[0]
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(name) {
			cmd = c
		}
	}
	if cmd == nil {
		if name == "help" {
			return append([]string{prog, "help"}, rest[1:]...), "", nil
		}
		return nil, "", exitcode.Usagef("unknown command %q; commands: %s (run 'initbox help')", name, commandNames(cmds))
	}

	var flags, positional, tail []string
	hasTail := false
	args = append(pre, rest[1:]...)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			hasTail, tail = true, args[i+1:]
			i = len(args)
		case a == "-" || !strings.HasPrefix(a, "-"):
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			if !strings.Contains(a, "=") && takesValue(cmd, strings.TrimLeft(a, "-")) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	out := append([]string{prog, cmd.Name}, flags...)
	if len(positional) > 0 || hasTail {
		out = append(out, "--")
		out = append(out, positional...)
	}
	if hasTail {
		out = append(out, "--")
		out = append(out, tail...)
	}
	return out, cmd.Name, nil
}

// takesValue reports whether the command's flag called name needs a value.
// An unknown flag is treated as a boolean; urfave/cli then rejects it.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			if v, ok := f.(interface{ TakesValue() bool }); ok {
				return v.TakesValue()
			}
			return false
		}
	}
	return false
}

func commandNames(cmds []*cli.Command) string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}

// usageError maps urfave/cli's flag errors (unknown flag, bad value, a bad
// INITBOX_* variable) to exit code 2.
func usageError(_ *cli.Context, err error, _ bool) error {
	return exitcode.Usage(err)
}
