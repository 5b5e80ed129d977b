// Package run executes a plan: several initbox steps, in order, in one
// container. Each step is exactly one command with the same options as its
// flags (no second vocabulary): `wait: {targets: [...], timeout: 60s}` runs
// `initbox wait ... --timeout 60s`.
package run

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Version is the plan format this build reads.
const Version = 1

// positional names the options that are a command's arguments, not flags.
var positional = map[string][]string{
	"wait":   {"targets"},
	"fetch":  {"refs"},
	"render": {"src"},
	"seed":   {"source", "target"},
}

// Plan is a parsed plan file.
type Plan struct {
	Version int
	Timeout time.Duration
	Steps   []Step
}

// Step is one command and its argv (without the program name).
type Step struct {
	Name    string
	Command string
	Argv    []string
}

// Load reads and checks a plan (YAML or JSON).
func Load(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

type rawPlan struct {
	Version int                    `yaml:"version"`
	Timeout string                 `yaml:"timeout"`
	Steps   []map[string]yaml.Node `yaml:"steps"`
	Extra   map[string]any         `yaml:",inline"`
}

// Parse checks a plan's text.
func Parse(b []byte) (*Plan, error) {
	var raw rawPlan
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("plan: %v", err)
	}
	if len(raw.Extra) > 0 {
		keys := make([]string, 0, len(raw.Extra))
		for k := range raw.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("plan: unknown field %q (a plan has version, timeout and steps)", keys[0])
	}
	if raw.Version != Version {
		return nil, fmt.Errorf("plan: version %d; this initbox reads version %d", raw.Version, Version)
	}
	p := &Plan{Version: raw.Version}
	if raw.Timeout != "" {
		d, err := time.ParseDuration(raw.Timeout)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("plan: timeout %q: want a duration like 5m", raw.Timeout)
		}
		p.Timeout = d
	}
	if len(raw.Steps) == 0 {
		return nil, errors.New("plan: no steps")
	}
	for i, m := range raw.Steps {
		s, err := step(i+1, m)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

func step(n int, m map[string]yaml.Node) (Step, error) {
	s := Step{Name: fmt.Sprintf("step %d", n)}
	if name, ok := m["name"]; ok {
		if name.Kind != yaml.ScalarNode || name.Value == "" {
			return s, fmt.Errorf("plan: step %d: name must be a string", n)
		}
		s.Name = name.Value
		delete(m, "name")
	}
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return s, fmt.Errorf("plan: %s: want exactly one of wait, fetch, render, seed (and an optional name), got %v", s.Name, keys)
	}
	for cmd, node := range m {
		pos, ok := positional[cmd]
		if !ok {
			return s, fmt.Errorf("plan: %s: unknown command %q; use wait, fetch, render or seed", s.Name, cmd)
		}
		if node.Kind != yaml.MappingNode {
			return s, fmt.Errorf("plan: %s: %s takes a map of its options", s.Name, cmd)
		}
		s.Command = cmd
		var args, flags []string
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, val := node.Content[i].Value, node.Content[i+1]
			values, err := scalars(val)
			if err != nil {
				return s, fmt.Errorf("plan: %s: %s.%s: %v", s.Name, cmd, key, err)
			}
			if slices.Contains(pos, key) {
				args = append(args, values...)
				continue
			}
			if strings.HasPrefix(key, "-") || key == "" {
				return s, fmt.Errorf("plan: %s: %s: write option names without dashes (%q)", s.Name, cmd, key)
			}
			if val.Kind == yaml.ScalarNode && val.Tag == "!!bool" {
				flags = append(flags, "--"+key+"="+val.Value)
				continue
			}
			for _, v := range values {
				flags = append(flags, "--"+key+"="+v)
			}
		}
		s.Argv = append(append([]string{cmd}, flags...), args...)
	}
	return s, nil
}

// scalars reads an option's value: a scalar or a list of scalars.
func scalars(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, errors.New("a list of strings, numbers or booleans only")
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, errors.New("a string, number, boolean or a list of them")
}
