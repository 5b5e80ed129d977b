package wait

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is a parsed --json-path: a chain of object keys and array indexes
// in jq's simple form, e.g. .status, .checks[0].state, ."key.with.dots".
// A leading $ (JSONPath style) is accepted too.
type jsonPath struct {
	steps []pathStep
	spec  string
}

type pathStep struct {
	key   string
	index int
	isIdx bool
}

func parseJSONPath(spec string) (jsonPath, error) {
	p := jsonPath{spec: spec}
	s := strings.TrimPrefix(strings.TrimSpace(spec), "$")
	bad := func(why string) (jsonPath, error) {
		return p, fmt.Errorf("--json-path %q: %s; write it like .status or .checks[0].state", spec, why)
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

var errPathMissing = errors.New("not present")

// eval returns the value at the path in a JSON document.
func (p jsonPath) eval(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("response is not JSON: %w", err)
	}
	for _, st := range p.steps {
		switch cur := v.(type) {
		case map[string]any:
			if st.isIdx {
				return nil, errPathMissing
			}
			next, ok := cur[st.key]
			if !ok {
				return nil, errPathMissing
			}
			v = next
		case []any:
			if !st.isIdx || st.index >= len(cur) {
				return nil, errPathMissing
			}
			v = cur[st.index]
		default:
			return nil, errPathMissing
		}
	}
	return v, nil
}

// jsonText renders a value for comparison with --json-value: strings as they
// are, numbers as written, true/false/null, objects and arrays as compact JSON.
func jsonText(v any) string {
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

func (p jsonPath) String() string { return p.spec }
