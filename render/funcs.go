package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"text/template/parse"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/sprig/v3"
	sigsyaml "sigs.k8s.io/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v3"
)

// maxIncludeDepth stops a template that includes itself before it exhausts
// the stack (Helm stops at 1000 too).
const maxIncludeDepth = 1000

// The ways a missing value is treated (--missing).
const (
	// MissingPrint, the default: lookups of absent keys give nothing, so
	// Helm's idioms work (default, coalesce, empty, hasKey, with, if,
	// ternary, required, (.a).b guards), but printing a missing or nil
	// value is an error naming the template, line, column and expression.
	MissingPrint = "print"
	// MissingZero is Helm's lenient output: a missing value prints as
	// nothing.
	MissingZero = "zero"
	// MissingError is Go's missingkey=error: any lookup of an absent key
	// is an error.
	MissingError = "error"
)

// engine is what the template functions that run templates share: the set
// they run in, the mode, the delimiters, the output budget.
type engine struct {
	set     *template.Template
	mode    string
	dialect string         // --funcs
	data    map[string]any // --data, for gomplate's datasource
	ld, rd  string
	budget  *budget
	fm      template.FuncMap // the functions, for parsing tpl's text
	depth   atomic.Int64     // include and tpl calls in progress, on every goroutine
	sites   printSites       // the set's printing actions (--missing print)
}

// option is the set's missingkey option for the mode.
func (e *engine) option() string {
	if e.mode == MissingError {
		return "missingkey=error"
	}
	return "missingkey=zero"
}

// finish turns an output as the mode wants it: in zero mode Go's "<no
// value>" for a missing value becomes nothing, as Helm does.
func (e *engine) finish(s string) string {
	if e.mode == MissingZero {
		return strings.ReplaceAll(s, "<no value>", "")
	}
	return s
}

// funcs returns the template functions: sprig's, without the ones that
// reach outside the declared data (getHostByName resolves DNS; env and
// expandenv read the whole environment), plus Helm's.
func (e *engine) funcs(env map[string]string, prefix string) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "getHostByName")
	boundFuncs(f, e.budget)
	comparisons(f)
	f["env"] = func(name string) (string, error) {
		if !strings.HasPrefix(name, prefix) {
			return "", fmt.Errorf("env %q: only variables starting with %q are visible (--env-prefix)", name, prefix)
		}
		return env[name], nil
	}
	f["expandenv"] = func(s string) string { return os.Expand(s, func(k string) string { return env[k] }) }
	// Helm's, byte for byte: toYaml is sigs.k8s.io/yaml's (through JSON,
	// keys sorted), toYamlPretty yaml.v3's with an indent of 2.
	f["toYaml"] = func(v any) (string, error) {
		b, err := sigsyaml.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("toYaml: %w", err)
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	f["toYamlPretty"] = func(v any) (string, error) {
		var b bytes.Buffer
		enc := goyaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return "", fmt.Errorf("toYamlPretty: %w", err)
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
	f["fromYaml"] = func(s string) (map[string]any, error) {
		return decodeAs[map[string]any]("fromYaml", "helm-yaml", s, "a map (use fromYamlArray for a list)")
	}
	f["fromYamlArray"] = func(s string) ([]any, error) { return decodeAs[[]any]("fromYamlArray", "helm-yaml", s, "a list") }
	f["toJson"] = func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("toJson: %w", err)
		}
		return string(b), nil
	}
	f["fromJson"] = func(s string) (map[string]any, error) {
		return decodeAs[map[string]any]("fromJson", "json", s, "an object (use fromJsonArray for a list)")
	}
	f["fromJsonArray"] = func(s string) ([]any, error) { return decodeAs[[]any]("fromJsonArray", "json", s, "a list") }
	f["toToml"] = func(v any) (string, error) {
		var b bytes.Buffer
		if err := toml.NewEncoder(&b).Encode(v); err != nil {
			return "", fmt.Errorf("toToml: %w", err)
		}
		return b.String(), nil
	}
	f["fromToml"] = func(s string) (map[string]any, error) {
		return decodeAs[map[string]any]("fromToml", "toml", s, "a table")
	}
	f["required"] = func(msg string, v any) (any, error) {
		if v == nil {
			return nil, requiredError(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, requiredError(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", requiredError(msg) }
	// What `helm template` gives offline: an empty map.
	f["lookup"] = func(apiVersion, kind, namespace, name string) map[string]any { return map[string]any{} }
	f[printCheck] = printChecked(&e.sites, nil)
	switch e.dialect {
	case FuncsDockerize:
		dockerizeFuncs(f)
	case FuncsGomplate:
		e.gomplateFuncs(f, env, prefix)
	}
	e.bind(f, e.set)
	e.fm = f
	return f
}

// bind makes include and tpl run in set: the render's, or a clone a tpl
// call made (its text's defines are seen by the includes inside it).
func (e *engine) bind(f template.FuncMap, set *template.Template) {
	f["include"] = func(name string, data any) (string, error) {
		if e.depth.Add(1) > maxIncludeDepth {
			e.depth.Add(-1)
			return "", fmt.Errorf("include %q: more than %d nested includes (a template that includes itself?)", name, maxIncludeDepth)
		}
		defer e.depth.Add(-1)
		w := &budgetWriter{budget: e.budget}
		err := set.ExecuteTemplate(w, name, data)
		return w.buf.String(), err
	}
	f["tpl"] = func(text string, data any) (string, error) {
		if e.depth.Add(1) > maxIncludeDepth {
			e.depth.Add(-1)
			return "", fmt.Errorf("tpl: more than %d nested calls", maxIncludeDepth)
		}
		defer e.depth.Add(-1)
		// As Helm does: a clone of the set, so that the text's defines (and
		// redefinitions) are what its includes see, and nothing leaks out.
		c, err := set.Clone()
		if err != nil {
			return "", err
		}
		c.Option(e.option()) // a clone forgets it (golang/go#43022)
		inner := template.FuncMap{}
		e.bind(inner, c)
		local := &printSites{prefix: "t"}
		inner[printCheck] = printChecked(&e.sites, local)
		c.Funcs(inner)
		trees, err := parse.Parse("tpl", text, e.ld, e.rd, e.fm, builtinNames)
		if err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		for name, tree := range trees {
			if e.mode == MissingPrint {
				checkPrints(tree, local)
			}
			if _, err := c.AddParseTree(name, tree); err != nil {
				return "", fmt.Errorf("tpl: %w", err)
			}
		}
		w := &budgetWriter{budget: e.budget}
		if err := c.ExecuteTemplate(w, "tpl", data); err != nil {
			return "", err
		}
		return e.finish(w.buf.String()), nil
	}
}

// requiredError is the user's own message, as Helm gives it.
type requiredError string

func (e requiredError) Error() string { return string(e) }

// printCheck is the function checkPrints appends to every printing action.
const printCheck = "__initbox_printed"

// checkPrints makes every action that prints ({{ .Values.x }}, not
// {{ $x := … }}) fail on a missing value: it appends
// `| __initbox_printed "ID"` to the action's pipeline, ID naming the
// action in sites (where it is, and what it says, are worked out only when
// one fails: a thousand templates pay for a string each, not a message).
func checkPrints(tree *parse.Tree, sites *printSites) {
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 || n.Pipe.IsAssign {
				return
			}
			var at parse.Node = n
			if len(n.Pipe.Cmds) > 0 {
				at = n.Pipe.Cmds[0] // where the expression starts, not the {{
			}
			orig := *n.Pipe
			orig.Cmds = n.Pipe.Cmds[:len(n.Pipe.Cmds):len(n.Pipe.Cmds)]
			id := sites.add(printSite{tree: tree, at: at, pipe: &orig})
			n.Pipe.Cmds = append(orig.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{
				parse.NewIdentifier(printCheck).SetTree(tree).SetPos(n.Pos),
				&parse.StringNode{NodeType: parse.NodeString, Pos: n.Pos, Quoted: `"` + id + `"`, Text: id},
			}})
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tree.Root)
}

// printSite is one printing action checkPrints marked.
type printSite struct {
	tree *parse.Tree
	at   parse.Node
	pipe *parse.PipeNode // as the user wrote it
}

// printSites numbers the marked actions of a set (prefix "g") or of one
// tpl call's text (prefix "t").
type printSites struct {
	prefix string
	mu     sync.Mutex
	s      []printSite
}

func (p *printSites) add(s printSite) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s = append(p.s, s)
	return p.prefix + strconv.Itoa(len(p.s)-1)
}

// where names the action id marks: "tmpl:line:col: expression".
func (p *printSites) where(id string) string {
	i, err := strconv.Atoi(strings.TrimPrefix(id, p.prefix))
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil || i < 0 || i >= len(p.s) {
		return "a printed value"
	}
	site := p.s[i]
	loc, _ := site.tree.ErrorContext(site.at)
	return loc + ": " + site.pipe.String()
}

// printChecked passes v on, or fails when it is nil: printing it would
// write "<no value>" (or, in Helm, nothing) where a value was meant. The
// set's actions are in global; local, if not nil, holds a tpl text's.
func printChecked(global, local *printSites) func(id string, v any) (any, error) {
	return func(id string, v any) (any, error) {
		if v != nil {
			return v, nil
		}
		if local != nil && strings.HasPrefix(id, local.prefix) {
			return nil, missingError(local.where(id))
		}
		return nil, missingError(global.where(id))
	}
}

// missingError says a printed value is missing.
type missingError string

func (e missingError) Error() string {
	return string(e) + " is missing (or null); give it a value, use default or required, or --missing zero to print it as nothing, as Helm does"
}

// decodeAs parses s and wants a T (a map or a list) at the top.
func decodeAs[T any](fn, format, s, want string) (T, error) {
	var zero T
	v, err := decode(format, []byte(s))
	if err != nil {
		return zero, fmt.Errorf("%s: %w", fn, err)
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%s: not %s", fn, want)
	}
	return t, nil
}

// templateError is an execution error as the user should read it: a failed
// print check or required says only what it says, with where.
func templateError(err error) string {
	var m missingError
	var r requiredError
	switch {
	case errors.As(err, &m):
		return m.Error()
	case errors.As(err, &r):
		msg := tidy(err)
		if at, _, ok := strings.Cut(msg, ": executing"); ok {
			return at + ": " + r.Error()
		}
		return r.Error()
	}
	return gomplateError(tidy(err))
}
