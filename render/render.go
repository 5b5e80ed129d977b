// Package render turns templates plus data (values files, files such as a
// Kubernetes Secret volume, the environment) into the configuration files an
// application reads: Go text/template with sprig and Helm's functions, or
// envsubst. Strict (a missing key is an error naming template, line and
// key), hermetic (no DNS, no exec, no file reads beyond the declared data),
// checked (JSON/YAML/TOML outputs must parse; --check runs a validator on
// the staged files) and all-or-nothing (internal/publish).
package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/internal/atomicfile"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/glob"
	"github.com/initbox/initbox/internal/limit"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/watch"
)

// DefaultSuffix marks the templates of a directory; it is stripped on
// output. Other files are copied as they are.
const DefaultSuffix = ".tmpl"

// Config is one render.
type Config struct {
	// Src is a template file, a directory of templates and other files, or
	// "-" for stdin. Out is the file or directory written, or "-" for
	// stdout.
	Src, Out string
	// Values are YAML/JSON/TOML files deep-merged in order into .Values
	// (PATH[?optional]). Data are NAME=PATH[?format=F][,optional]: a file
	// parsed by its extension, or a directory read as a map of file name to
	// content, as .Data.NAME.
	Values, Data []string
	// EnvPrefix limits .Env and the env function to variables starting
	// with it. Env is the environment (nil: the process's).
	EnvPrefix string
	Env       []string
	// Envsubst replaces ${VAR} forms instead of executing Go templates;
	// Allow, if set, names the only variables replaced.
	Envsubst bool
	Allow    []string
	// Suffix marks templates in a directory (default .tmpl).
	Suffix string
	// Include and Exclude filter a directory's files by relative name.
	Include, Exclude []string
	// Partials is a directory of templates (named by their relative path)
	// that every template can include or use through {{ template }}.
	Partials string
	// LeftDelim and RightDelim replace {{ and }}.
	LeftDelim, RightDelim string
	// Mode is the mode of the written files; 0 keeps each source's.
	Mode fs.FileMode
	// Owner is "uid:gid" for the written files; needs root.
	Owner string
	// Checks are validators run on the staged files before publishing:
	// {{.Path}} is a rendered file (the command runs once per rendered
	// file), {{.Dir}} the staged directory (once).
	Checks []string
	// DryRun prints what would change and writes nothing.
	DryRun bool
	// Missing says what a missing value does: MissingPrint (""), an error
	// only where it is printed; MissingZero, printed as nothing (Helm);
	// MissingError, an error wherever it is looked up.
	Missing string
	// Funcs is the function set: FuncsHelm ("", sprig and Helm's),
	// FuncsDockerize or FuncsGomplate, for templates written for them.
	Funcs string
	// Chart is a Chart.yaml (or a chart's directory) read as .Chart;
	// Release and Namespace make .Release (as helm template NAME does);
	// KubeVersion and APIVersions shape .Capabilities (default: helm
	// template's offline ones).
	Chart, Release, Namespace, KubeVersion string
	APIVersions                            []string
	// MaxBytes bounds what is read from one file and what all outputs
	// take together; 0 means DefaultMaxBytes. Timeout bounds the render
	// (0: none): a template is a program, and may loop.
	MaxBytes int64
	Timeout  time.Duration

	Stdin  io.Reader
	Stdout io.Writer
	// Watch, if set, re-renders after the first pass whenever a template,
	// values or data file changes (a ConfigMap volume's ..data swap
	// included), and at its Refresh (--watch).
	Watch *watch.Options
}

// An input is one file of the source.
type input struct {
	name     string // output name (relative, slash-separated; suffix stripped)
	tmpl     string // template name in messages: the source's relative path
	src      string // path, "" for stdin
	mode     fs.FileMode
	template bool
}

type output struct {
	input
	data []byte
}

// Validate checks the configuration without reading anything.
func (c Config) Validate() error {
	if c.Watch != nil {
		switch {
		case c.Src == "-" || c.Out == "-":
			return errors.New("--watch re-renders files when their inputs change: give SRC and --out as paths, not -")
		case c.DryRun:
			return errors.New("--watch and --dry-run: a dry run writes nothing to keep fresh")
		}
		if err := c.Watch.Validate(); err != nil {
			return err
		}
	}
	switch {
	case c.Missing != "" && c.Missing != MissingPrint && c.Missing != MissingZero && c.Missing != MissingError:
		return fmt.Errorf("--missing %q: use print, zero or error", c.Missing)
	case c.Funcs != "" && c.Funcs != FuncsHelm && c.Funcs != FuncsDockerize && c.Funcs != FuncsGomplate:
		return fmt.Errorf("--funcs %q: use helm, dockerize or gomplate", c.Funcs)
	case c.Funcs != "" && c.Funcs != FuncsHelm && c.Envsubst:
		return errors.New("--funcs is for Go templates; --envsubst has none")
	case c.Src == "":
		return errors.New("no source: give a template file, a directory or - (stdin)")
	case c.Out == "":
		return errors.New("--out is required (a file, a directory, or - for stdout)")
	case (c.LeftDelim == "") != (c.RightDelim == ""):
		return errors.New("--left-delim and --right-delim go together")
	case c.Envsubst && (c.LeftDelim != "" || c.Partials != ""):
		return errors.New("--envsubst replaces ${VAR}; --left-delim/--right-delim and --partials are for Go templates")
	case !c.Envsubst && len(c.Allow) > 0:
		return errors.New("--allow names the variables --envsubst replaces; add --envsubst")
	case c.Out == "-" && len(c.Checks) > 0:
		return errors.New("--check runs on files; --out - writes to stdout")
	}
	for _, g := range append(slices.Clone(c.Include), c.Exclude...) {
		if _, err := glob.Match(g, "x"); err != nil {
			return fmt.Errorf("glob %q: %w", g, err)
		}
	}
	for _, chk := range c.Checks {
		if _, err := splitWords(chk); err != nil {
			return fmt.Errorf("--check %q: %w", chk, err)
		}
	}
	if c.Owner != "" {
		if _, err := atomicfile.ParseOwner(c.Owner); err != nil {
			return err
		}
	}
	for _, v := range c.Values {
		if _, err := parseLayer("--values", v, false); err != nil {
			return err
		}
	}
	for _, d := range c.Data {
		if _, err := parseLayer("--data", d, true); err != nil {
			return err
		}
	}
	return nil
}

// Run renders and publishes.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return exitcode.Usage(err)
	}
	if c.Watch == nil {
		_, err := c.once(ctx, true)
		return err
	}
	// The inputs are watched from before the first pass, so that a change
	// during it is not missed.
	wake := make(chan struct{}, 1)
	fctx, stopFiles := context.WithCancel(ctx)
	defer stopFiles()
	o := *c.Watch
	o.Command, o.Wake, o.Upstream = "render", wake, true
	return watch.Run(ctx, o, func(pctx context.Context, first bool) (watch.Report, error) {
		if first {
			paths, err := c.watched()
			if err == nil {
				err = watch.Files(fctx, paths, wake)
			}
			if err != nil {
				return watch.Report{}, exitcode.Usage(err)
			}
		}
		changed, err := c.once(pctx, first)
		if changed && !first {
			slog.InfoContext(pctx, "republished", "out", c.Out)
			return watch.Report{Changed: []string{c.Out}}, err
		}
		return watch.Report{}, err
	})
}

// watched are the files a watch follows: the source, the partials, the
// chart, and every values and data file.
func (c Config) watched() ([]string, error) {
	paths := []string{c.Src}
	for _, p := range []string{c.Partials, c.Chart} {
		if p != "" {
			paths = append(paths, p)
		}
	}
	for _, a := range c.Values {
		l, err := parseLayer("--values", a, false)
		if err != nil {
			return nil, err
		}
		paths = append(paths, l.path)
	}
	for _, a := range c.Data {
		l, err := parseLayer("--data", a, true)
		if err != nil {
			return nil, err
		}
		paths = append(paths, l.path)
	}
	return paths, nil
}

// once renders and publishes; it reports whether the output changed. After
// the first pass an unchanged render logs at debug level only.
func (c Config) once(ctx context.Context, first bool) (bool, error) {
	lvl := slog.LevelInfo
	if !first {
		lvl = slog.LevelDebug
	}
	if c.Suffix == "" {
		c.Suffix = DefaultSuffix
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	var owner *atomicfile.Owner
	if c.Owner != "" {
		owner, _ = atomicfile.ParseOwner(c.Owner)
		if os.Geteuid() != 0 {
			return false, exitcode.Usage(fmt.Errorf("--owner %s needs root (running as uid %d); set the pod's fsGroup, or --mode", c.Owner, os.Geteuid()))
		}
	}
	inputs, dirOut, err := c.inputs()
	if err != nil {
		return false, exitcode.Usage(err)
	}
	if !dirOut && strings.HasSuffix(c.Out, "/") {
		c.Out += path.Base(inputs[0].name) // one template into a directory
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	outs, err := c.render(ctx, inputs)
	if err != nil && !first && exitcode.Of(err) == exitcode.Deadline {
		// The template still runs (Go cannot stop it): end the process.
		return false, watch.Fatal(err)
	}
	if err != nil {
		return false, err
	}
	switch {
	case c.Out == "-":
		w := c.Stdout
		if w == nil {
			w = os.Stdout
		}
		for _, o := range outs {
			if _, err := w.Write(o.data); err != nil {
				return false, err
			}
		}
		return true, nil
	case c.DryRun:
		return false, c.dryRun(outs, dirOut)
	case dirOut:
		return c.publishDir(ctx, outs, owner, lvl)
	}
	return c.publishFile(ctx, outs[0], owner, lvl)
}

// render loads the data and renders every input, within --timeout: a
// template is a program and may loop (range over 10^15), and Go cannot stop
// one from outside, so past the deadline render returns and the process
// ends with it.
func (c Config) render(ctx context.Context, inputs []input) ([]output, error) {
	type result struct {
		outs []output
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = exitcode.WithCode(exitcode.Failure, fmt.Errorf("rendering failed: %v", p))
			}
			done <- r
		}()
		values, err := loadValues(c.Values, c.MaxBytes)
		if err != nil {
			r.err = exitcode.Usage(err)
			return
		}
		data, err := loadData(c.Data, c.MaxBytes)
		if err != nil {
			r.err = exitcode.Usage(err)
			return
		}
		r.outs, r.err = c.renderAll(inputs, values, data, environ(c.Env, c.EnvPrefix))
		r.err = exitcode.WithCode(exitcode.Failure, r.err)
	}()
	var deadline <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case r := <-done:
		return r.outs, r.err
	case <-deadline:
		return nil, exitcode.WithCode(exitcode.Deadline, fmt.Errorf("rendering took longer than --timeout %v (a template that loops without end?); nothing is written", c.Timeout))
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// publishDir publishes a tree of outputs all or nothing, after the checks
// ran on the staged copies.
func (c Config) publishDir(ctx context.Context, outs []output, owner *atomicfile.Owner, lvl slog.Level) (bool, error) {
	dirMode := c.Mode
	if dirMode == 0 {
		dirMode = 0o644
	}
	changed, err := publish.Dir(ctx, c.Out, publish.Options{Mode: dirMode, Owner: owner}, func(s *publish.Stage) error {
		errs := make([]error, len(outs))
		parallel(len(outs), func(i int) { errs[i] = s.WriteFileMode(outs[i].name, outs[i].data, c.modeOf(outs[i].input)) })
		for _, err := range errs {
			if err != nil {
				return err // the first, in file order: one line, not a thousand
			}
		}
		return c.runChecks(ctx, outs, s.Path, filepath.Dir(s.Path("x")))
	})
	if err == nil {
		slog.Log(ctx, max(lvl, levelOf(changed)), "rendered", "out", c.Out, "files", len(outs), "changed", changed)
	}
	return changed, err
}

// levelOf is the level of a "rendered" line after the first pass: a
// change is news.
func levelOf(changed bool) slog.Level {
	if changed {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// publishFile writes one output atomically; with --check, the check runs
// on the temporary file before it is renamed into place.
func (c Config) publishFile(ctx context.Context, o output, owner *atomicfile.Owner, lvl slog.Level) (bool, error) {
	opts := atomicfile.Options{Mode: c.modeOf(o.input), Owner: owner}
	if len(c.Checks) == 0 {
		changed, err := atomicfile.WriteFile(ctx, c.Out, o.data, opts)
		if err == nil {
			slog.Log(ctx, max(lvl, levelOf(changed)), "rendered", "out", c.Out, "files", 1, "changed", changed)
		}
		return changed, err
	}
	if lvl > slog.LevelInfo {
		// A watch's pass: an output that is already there needs no check.
		if b, err := os.ReadFile(c.Out); err == nil && bytes.Equal(b, o.data) {
			return false, nil
		}
	}
	t, err := atomicfile.Begin(c.Out, opts)
	if err != nil {
		return false, err
	}
	if _, err := t.File.Write(o.data); err != nil {
		t.Abort()
		return false, err
	}
	tmp := t.File.Name()
	if err := c.runChecks(ctx, []output{o}, func(string) string { return tmp }, filepath.Dir(tmp)); err != nil {
		t.Abort()
		return false, err
	}
	if err := t.Commit(ctx); err != nil {
		return false, err
	}
	slog.InfoContext(ctx, "rendered", "out", c.Out, "files", 1, "changed", true)
	return true, nil
}

func (c Config) modeOf(in input) fs.FileMode {
	if c.Mode != 0 {
		return c.Mode
	}
	return in.mode.Perm()
}

// inputs lists the source files and says whether the output is a
// directory.
func (c Config) inputs() ([]input, bool, error) {
	if c.Src == "-" {
		if strings.HasSuffix(c.Out, "/") {
			return nil, false, errors.New("a template from stdin renders one file: give --out a file name or -")
		}
		return []input{{name: "stdin", tmpl: "stdin", mode: 0o644, template: true}}, false, nil
	}
	fi, err := os.Stat(c.Src)
	if err != nil {
		return nil, false, fmt.Errorf("source %s: %w", c.Src, unwrapPath(err))
	}
	if !fi.IsDir() {
		name := strings.TrimSuffix(filepath.Base(c.Src), c.Suffix)
		return []input{{name: name, tmpl: filepath.Base(c.Src), src: c.Src, mode: fi.Mode(), template: true}}, false, nil
	}
	if c.Out == "-" {
		return nil, false, errors.New("a directory of templates renders a directory: give --out a directory")
	}
	var partials string
	if c.Partials != "" {
		if partials, err = filepath.EvalSymlinks(c.Partials); err != nil {
			return nil, false, fmt.Errorf("--partials %s: %w", c.Partials, unwrapPath(err))
		}
	}
	// The source may be a link to a directory (a ConfigMap volume's, or a
	// prefix fetch published): walk what it points to.
	root, err := filepath.EvalSymlinks(c.Src)
	if err != nil {
		return nil, false, fmt.Errorf("source %s: %w", c.Src, unwrapPath(err))
	}
	tree, err := os.OpenRoot(root)
	if err != nil {
		return nil, false, fmt.Errorf("source %s: %w", c.Src, unwrapPath(err))
	}
	defer tree.Close()
	var ins []input
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if partials != "" && d.IsDir() && p == partials {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && strings.HasPrefix(path.Base(rel), "..") {
			if d.IsDir() {
				return filepath.SkipDir // a published version of our own
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		var mode fs.FileMode // a regular file's comes with its read (fstat)
		if !d.Type().IsRegular() {
			// A link is followed, as a ConfigMap volume needs, but only
			// where it stays inside the source tree.
			if p, err = followInside(tree, root, rel, d); err != nil {
				return fmt.Errorf("source %s: %w", c.Src, err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return nil
			}
			mode = fi.Mode()
		}
		if keep, err := glob.Keep(c.Include, c.Exclude, rel); err != nil || !keep {
			return err
		}
		in := input{name: rel, tmpl: rel, src: p, mode: mode}
		if strings.HasSuffix(rel, c.Suffix) {
			in.name, in.template = strings.TrimSuffix(rel, c.Suffix), true
		}
		if err := publish.CheckName(in.name, true); err != nil {
			return fmt.Errorf("source %s: %w", p, err)
		}
		ins = append(ins, in)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if len(ins) == 0 {
		return nil, false, fmt.Errorf("source %s: no files (check --include/--exclude)", c.Src)
	}
	seen := map[string]string{}
	for _, in := range ins {
		if prev, dup := seen[in.name]; dup {
			return nil, false, fmt.Errorf("%s and %s both write %s", prev, in.src, in.name)
		}
		seen[in.name] = in.src
	}
	return ins, true, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// renderAll renders every input; it reports every failure, not only the
// first, and writes nothing.
func (c Config) renderAll(ins []input, values, data map[string]any, env map[string]string) ([]output, error) {
	var set *template.Template
	var fm template.FuncMap
	out := newBudget(c.MaxBytes)
	e := &engine{mode: c.Missing, dialect: c.Funcs, data: data, ld: c.LeftDelim, rd: c.RightDelim, budget: out, sites: printSites{prefix: "g"}}
	if e.mode == "" {
		e.mode = MissingPrint
		if c.Funcs == FuncsGomplate {
			e.mode = MissingError // gomplate's --missing-key default
		}
	}
	if !c.Envsubst {
		set = template.New("").Option(e.option())
		e.set = set
		fm = e.funcs(env, c.EnvPrefix)
		set.Funcs(fm)
		if c.LeftDelim != "" {
			set.Delims(c.LeftDelim, c.RightDelim)
		}
		if err := c.parsePartials(set, e); err != nil {
			return nil, err
		}
	}
	allowed := func(string) bool { return true }
	if len(c.Allow) > 0 {
		allowed = func(n string) bool { return slices.Contains(c.Allow, n) }
	}
	if c.EnvPrefix != "" {
		prev := allowed
		allowed = func(n string) bool { return strings.HasPrefix(n, c.EnvPrefix) && prev(n) }
	}
	var errs []string
	// Parse everything first: a template may use another's {{ define }}.
	contents := make([][]byte, len(ins))
	readErrs := make([]error, len(ins))
	parallel(len(ins), func(i int) {
		var mode fs.FileMode
		contents[i], mode, readErrs[i] = c.read(ins[i])
		if mode != 0 {
			ins[i].mode = mode
		}
	})
	if err := errors.Join(readErrs...); err != nil {
		return nil, err
	}
	if !c.Envsubst {
		errs = c.parseAll(set, fm, ins, contents, e)
	}
	if len(errs) > 0 {
		return nil, templateErrors(errs, len(ins))
	}
	root := map[string]any{"Values": values, "Data": data, "Env": stringMap(env)}
	caps, err := c.capabilities()
	if err != nil {
		return nil, exitcode.Usage(err)
	}
	root["Capabilities"] = caps
	if c.Chart != "" {
		chart, err := loadChart(c.Chart)
		if err != nil {
			return nil, exitcode.Usage(err)
		}
		root["Chart"] = chart
	}
	if c.Release != "" {
		root["Release"] = c.release()
	}
	// Executing and checking are pure CPU and safe in parallel once every
	// template is parsed.
	outs := make([]output, len(ins))
	failed := make([]string, len(ins))
	parallel(len(ins), func(i int) {
		in := ins[i]
		outs[i] = output{input: in, data: contents[i]}
		if !in.template {
			if err := out.take(len(contents[i])); err != nil {
				failed[i] = in.name + ": " + err.Error()
			} else if err := checkSyntax(outs[i]); err != nil {
				failed[i] = err.Error()
			}
			return
		}
		if c.Envsubst {
			s, err := envsubst(in.tmpl, string(contents[i]), env, allowed, len(c.Allow) > 0)
			if err == nil {
				err = out.take(len(s))
			}
			if err != nil {
				failed[i] = err.Error()
				return
			}
			outs[i].data = []byte(s)
		} else {
			w := &budgetWriter{budget: out}
			dot := maps.Clone(root)
			dot["Template"] = map[string]any{"Name": in.tmpl, "BasePath": path.Dir(in.tmpl)}
			if err := set.ExecuteTemplate(w, in.tmpl, dot); err != nil {
				failed[i] = templateError(err)
				return
			}
			outs[i].data = []byte(e.finish(w.buf.String()))
		}
		if err := checkSyntax(outs[i]); err != nil {
			failed[i] = err.Error()
		}
	})
	for _, f := range failed {
		if f != "" {
			errs = append(errs, f)
		}
	}
	if len(errs) > 0 {
		return nil, templateErrors(errs, len(ins))
	}
	return outs, nil
}

// parseAll parses the templates on every core, then adds their trees to set
// in input order, so that a name defined in two files resolves as a serial
// parse would (the later file wins). It returns one message per bad file.
func (c Config) parseAll(set *template.Template, funcs template.FuncMap, ins []input, contents [][]byte, e *engine) []string {
	fm := []map[string]any{funcs, builtinNames}
	trees := make([]map[string]*parse.Tree, len(ins))
	failed := make([]error, len(ins))
	parallel(len(ins), func(i int) {
		if ins[i].template {
			trees[i], failed[i] = parse.Parse(ins[i].tmpl, string(contents[i]), c.LeftDelim, c.RightDelim, fm...)
			if failed[i] == nil && e.mode == MissingPrint {
				for _, t := range trees[i] {
					checkPrints(t, &e.sites)
				}
			}
		}
	})
	var errs []string
	for i := range ins {
		if failed[i] != nil {
			errs = append(errs, tidy(failed[i]))
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(trees[i])) {
			if _, err := set.AddParseTree(name, trees[i][name]); err != nil {
				errs = append(errs, tidy(err))
			}
		}
	}
	return errs
}

// builtinNames are text/template's built-in functions, which the parser
// must know exist (it takes names, not the functions).
var builtinNames = map[string]any{
	"and": true, "call": true, "html": true, "index": true, "slice": true, "js": true, "len": true, "not": true, "or": true,
	"print": true, "printf": true, "println": true, "urlquery": true, "eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true,
}

// parallel runs f(0..n-1) on one goroutine per core.
func parallel(n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var panicked atomic.Value
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panicked.CompareAndSwap(nil, fmt.Sprint(p))
				}
			}()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(p) // on the caller's goroutine, where render recovers it
	}
}

// read returns a template's or file's content, and a file's mode.
func (c Config) read(in input) ([]byte, fs.FileMode, error) {
	if in.src == "" {
		r := c.Stdin
		if r == nil {
			r = os.Stdin
		}
		b, err := io.ReadAll(limit.Reader(r, c.MaxBytes, func() error { return tooLarge("stdin", c.MaxBytes) }))
		return b, 0, err
	}
	b, mode, err := readFile(in.src)
	if err == nil && int64(len(b)) > c.MaxBytes {
		err = tooLarge(in.src, c.MaxBytes)
	}
	return b, mode, err
}

func tooLarge(what string, max int64) error {
	return fmt.Errorf("%s is larger than %d bytes (--max-bytes); raise it if it is meant to be", what, max)
}

// readFile is os.ReadFile on a plain descriptor (open, fstat, read, close:
// no poller registration), for the thousand small templates of a tree.
func readFile(name string) ([]byte, fs.FileMode, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	mode := fs.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	b := make([]byte, 0, st.Size+1) // +1: the read that sees EOF
	for {
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, mode, nil
		}
		b = b[:len(b)+n]
		if len(b) == cap(b) {
			b = slices.Grow(b, 4096) // it grew since the stat
		}
	}
}

func (c Config) parsePartials(set *template.Template, e *engine) error {
	if c.Partials == "" {
		return nil
	}
	tree, err := os.OpenRoot(c.Partials)
	if err != nil {
		return fmt.Errorf("--partials: %w", err)
	}
	defer tree.Close()
	return filepath.WalkDir(c.Partials, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("--partials: %w", err)
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, _ := filepath.Rel(c.Partials, p)
		if p, err = followInside(tree, c.Partials, filepath.ToSlash(rel), d); err != nil {
			return fmt.Errorf("--partials: %w", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		trees, err := parse.Parse(filepath.ToSlash(rel), string(b), c.LeftDelim, c.RightDelim, e.fm, builtinNames)
		if err != nil {
			return fmt.Errorf("--partials: %s", tidy(err))
		}
		for name, tree := range trees {
			if e.mode == MissingPrint {
				checkPrints(tree, &e.sites)
			}
			if _, err := set.AddParseTree(name, tree); err != nil {
				return fmt.Errorf("--partials: %s", tidy(err))
			}
		}
		return nil
	})
}

// followInside returns the path of a tree's entry to read: itself, or, for
// a link, where it leads through the tree's links — refused when that is
// outside the tree (a link to /etc, or through d -> ..).
func followInside(tree *os.Root, dir, rel string, d fs.DirEntry) (string, error) {
	if d.Type()&fs.ModeSymlink == 0 {
		return filepath.Join(dir, rel), nil
	}
	to, err := publish.Resolve(tree, rel)
	if err != nil {
		return "", exitcode.WithCode(exitcode.Failure, fmt.Errorf("%w; render reads only what is inside its source tree", err))
	}
	return filepath.Join(dir, to), nil
}

// tidy drops text/template's "template: " prefix: the message starts with
// the template's name, line and column.
// A template that includes itself nests text/template's messages a
// thousand deep, the cause last: it goes first, with where the chain began.
func tidy(err error) string {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	for _, fn := range []string{"include", "tpl"} {
		sep := "error calling " + fn + ": "
		if n := strings.Count(msg, sep); n > 2 {
			outer := strings.TrimSuffix(msg[:strings.Index(msg, sep)], ": ")
			inner := strings.TrimPrefix(msg[strings.LastIndex(msg, sep)+len(sep):], "template: ")
			msg = fmt.Sprintf("%s (%d nested %s calls, the first at %s)", inner, n, fn, outer)
		}
	}
	if len(msg) > 2048 {
		msg = msg[:1024] + " … " + msg[len(msg)-1000:]
	}
	return msg
}

func templateErrors(errs []string, total int) error {
	const show = 5
	msg := strings.Join(errs[:min(len(errs), show)], "; ")
	if len(errs) > show {
		msg += fmt.Sprintf("; and %d more", len(errs)-show)
	}
	if total == 1 {
		return fmt.Errorf("%s; nothing is written", msg)
	}
	return fmt.Errorf("%d of %d templates failed: %s; nothing is written", len(errs), total, msg)
}

// checkSyntax parses an output named .json, .yaml, .yml or .toml.
func checkSyntax(o output) error {
	var err error
	switch strings.ToLower(path.Ext(o.name)) {
	case ".json":
		var v any
		if e := json.Unmarshal(o.data, &v); e != nil {
			err = jsonError(o.data, e)
		}
	case ".yaml", ".yml":
		// Into nodes, not values (half the allocations), with the one check
		// decoding into values would add: a key given twice in a mapping.
		d := yaml.NewDecoder(bytes.NewReader(o.data))
		for {
			var n yaml.Node
			if e := d.Decode(&n); e != nil {
				if e != io.EOF {
					err = e
				}
				break
			}
			if err = duplicateKey(&n); err != nil {
				break
			}
		}
	case ".toml":
		if err = checkDepth(o.data); err == nil {
			var v map[string]any
			err = toml.Unmarshal(o.data, &v)
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: the output is not valid %s: %v", o.name, strings.TrimPrefix(path.Ext(o.name), "."), redact.Scrub(err.Error()))
	}
	return nil
}

// duplicateKey finds a mapping key given twice in a YAML document, as
// yaml.v3 reports it when decoding into values ("<<" merges aside).
func duplicateKey(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value != "<<" {
				id := k.ShortTag() + ":" + k.Value
				if line, ok := seen[id]; ok {
					return fmt.Errorf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, line)
				}
				seen[id] = k.Line
			}
		}
	}
	for _, c := range n.Content {
		if err := duplicateKey(c); err != nil {
			return err
		}
	}
	return nil
}

// runChecks runs each --check on the staged files.
func (c Config) runChecks(ctx context.Context, outs []output, staged func(string) string, dir string) error {
	for _, chk := range c.Checks {
		words, _ := splitWords(chk)
		perFile := strings.Contains(chk, "{{.Path}}")
		targets := []output{{}}
		if perFile {
			targets = nil
			for _, o := range outs {
				if o.template {
					targets = append(targets, o)
				}
			}
		}
		for _, o := range targets {
			args := make([]string, len(words))
			for i, w := range words {
				if perFile {
					w = strings.ReplaceAll(w, "{{.Path}}", staged(o.name))
				}
				args[i] = strings.ReplaceAll(w, "{{.Dir}}", dir)
			}
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				what := "the staged files"
				if perFile {
					what = o.name
				}
				return exitcode.WithCode(exitcode.Failure, fmt.Errorf("--check %q on %s: %v%s; nothing is written", chk, what, err, lastLines(out)))
			}
		}
	}
	return nil
}

// lastLines keeps the end of a validator's output, on one line, secrets
// removed.
func lastLines(out []byte) string {
	s := strings.TrimSpace(redact.Scrub(string(out)))
	if s == "" {
		return ""
	}
	if len(s) > 500 {
		s = "…" + s[len(s)-500:]
	}
	return ": " + strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// splitWords splits a command line as a shell would for plain words and
// quotes ('…' literal, "…" with \" and \\), without expansions.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				w.WriteByte(ch)
			}
		case quote == '"':
			if ch == '"' {
				quote = 0
			} else if ch == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				i++
				w.WriteByte(s[i])
			} else {
				w.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		words = append(words, w.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}
