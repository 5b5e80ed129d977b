// Package jsonpath selects a value in a JSON document with jq's simple path
// form — .status, .checks[0].state, ."key.with.dots", .["key"] — which is
// what --json-path and the Kubernetes jsonpath= option take. A leading $
// (JSONPath style) is accepted too.
//
//	p, err := jsonpath.Parse(".status.phase")
//	v, err := p.Eval(body)        // errors.Is(err, jsonpath.ErrMissing) if absent
//	ok := jsonpath.Text(v) == "Running"
package jsonpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Path is a parsed path: a chain of object keys and array indexes.
type Path struct {
	steps []pathStep
	spec  string
}

type pathStep struct {
	key   string
	index int
	isIdx bool
}

// Parse parses a path. "" and "." select the whole document.
func Parse(spec string) (Path, error) {
	p := Path{spec: spec}
	s := strings.TrimPrefix(strings.TrimSpace(spec), "$")
	bad := func(why string) (Path, error) {
		return p, fmt.Errorf("path %q: %s; write it like .status or .checks[0].state", spec, why)
	}
	if s == "" || s == "." {
		return p, nil // the whole document
	}
	if s[0] != '.' && s[0] != '[' {
		s = "." + s
	}
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
			if strings.HasPrefix(s, "[") {
				continue // jq's .["key"] and .[0]
			}
			if strings.HasPrefix(s, `"`) {
				end := 1
				for end < len(s) && s[end] != '"' {
					if s[end] == '\\' {
						end++
					}
					end++
				}
				if end >= len(s) {
					return bad("unterminated quoted key")
				}
				key, err := strconv.Unquote(s[:end+1])
				if err != nil {
					return bad("bad quoted key")
				}
				p.steps = append(p.steps, pathStep{key: key})
				s = s[end+1:]
				continue
			}
			end := strings.IndexAny(s, ".[]")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return bad("empty key")
			}
			p.steps = append(p.steps, pathStep{key: s[:end]})
			s = s[end:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return bad("missing ]")
			}
			inner := s[1:end]
			if strings.HasPrefix(inner, `"`) {
				key, err := strconv.Unquote(inner)
				if err != nil {
					return bad("bad quoted key")
				}
				p.steps = append(p.steps, pathStep{key: key})
			} else {
				i, err := strconv.Atoi(inner)
				if err != nil || i < 0 {
					return bad(fmt.Sprintf("index %q is not a number ≥ 0", inner))
				}
				p.steps = append(p.steps, pathStep{index: i, isIdx: true})
			}
			s = s[end+1:]
		default:
			return bad(fmt.Sprintf("unexpected %q", s[0]))
		}
	}
	return p, nil
}

// ErrMissing is returned when the path does not exist in the document.
var ErrMissing = errors.New("not present")

// Eval returns the value at the path in a JSON document (numbers as
// json.Number).
func (p Path) Eval(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return p.Select(v)
}

// Select returns the value at the path in a decoded document (maps, slices,
// strings, json.Number or float64, bools, nil).
func (p Path) Select(v any) (any, error) {
	for _, st := range p.steps {
		switch cur := v.(type) {
		case map[string]any:
			if st.isIdx {
				return nil, ErrMissing
			}
			next, ok := cur[st.key]
			if !ok {
				return nil, ErrMissing
			}
			v = next
		case []any:
			if !st.isIdx || st.index >= len(cur) {
				return nil, ErrMissing
			}
			v = cur[st.index]
		default:
			return nil, ErrMissing
		}
	}
	return v, nil
}

// Text renders a value for comparison: strings as they are, numbers as
// written, true/false/null, objects and arrays as compact JSON.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (p Path) String() string { return p.spec }
