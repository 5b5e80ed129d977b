package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"text/template"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/sprig/v3"
	"go.yaml.in/yaml/v3"
)

// maxIncludeDepth stops a template that includes itself before it exhausts
// the stack (Helm stops at 1000 too).
const maxIncludeDepth = 1000

// funcs returns the template functions: sprig's, without the ones that
// reach outside the declared data (getHostByName resolves DNS; env and
// expandenv read the whole environment), plus Helm's names. t is the
// template set include and tpl work in, set once it is parsed.
func funcs(env map[string]string, prefix string, t **template.Template, b *budget) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "getHostByName")
	boundFuncs(f, b)
	f["env"] = func(name string) (string, error) {
		if !strings.HasPrefix(name, prefix) {
			return "", fmt.Errorf("env %q: only variables starting with %q are visible (--env-prefix)", name, prefix)
		}
		return env[name], nil
	}
	f["expandenv"] = func(s string) string { return os.Expand(s, func(k string) string { return env[k] }) }
	f["toYaml"] = func(v any) (string, error) {
		var b bytes.Buffer
		e := yaml.NewEncoder(&b)
		e.SetIndent(2)
		if err := e.Encode(v); err != nil {
			return "", fmt.Errorf("toYaml: %w", err)
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
	f["fromYaml"] = func(s string) (map[string]any, error) {
		return decodeAs[map[string]any]("fromYaml", "yaml", s, "a map (use fromYamlArray for a list)")
	}
	f["fromYamlArray"] = func(s string) ([]any, error) { return decodeAs[[]any]("fromYamlArray", "yaml", s, "a list") }
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
	f["required"] = func(msg string, v any) (any, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	// Templates execute in parallel; the count covers them all, which only
	// adds the few levels the other workers are in to a runaway's.
	var depth atomic.Int64
	f["include"] = func(name string, data any) (string, error) {
		if depth.Add(1) > maxIncludeDepth {
			depth.Add(-1)
			return "", fmt.Errorf("include %q: more than %d nested includes (a template that includes itself?)", name, maxIncludeDepth)
		}
		defer depth.Add(-1)
		w := &budgetWriter{budget: b}
		err := (*t).ExecuteTemplate(w, name, data)
		return w.buf.String(), err
	}
	f["tpl"] = func(text string, data any) (string, error) {
		if depth.Add(1) > maxIncludeDepth {
			depth.Add(-1)
			return "", fmt.Errorf("tpl: more than %d nested calls", maxIncludeDepth)
		}
		defer depth.Add(-1)
		c, err := (*t).Clone()
		if err != nil {
			return "", err
		}
		c, err = c.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		w := &budgetWriter{budget: b}
		err = c.Execute(w, data)
		return w.buf.String(), err
	}
	return f
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
