package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/template"
)

// The function sets --funcs picks: Helm's (sprig plus Helm's own, the
// default), dockerize's or gomplate's, each with its own argument orders.
const (
	FuncsHelm      = "helm"
	FuncsDockerize = "dockerize"
	FuncsGomplate  = "gomplate"
)

// dockerizeFuncs overlays dockerize's functions on sprig's, as dockerize
// does (jwilder/dockerize's template.go): its default, split, replace,
// contains, add take their own arguments, not sprig's.
func dockerizeFuncs(f template.FuncMap) {
	f["contains"] = dockerizeContains
	f["exists"] = func(path string) (bool, error) {
		_, err := os.Stat(path)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		}
		return false, fmt.Errorf("exists %q: %w", path, errors.Unwrap(err))
	}
	f["split"] = strings.Split
	f["replace"] = func(s, old, new string, n int) string { return strings.Replace(s, old, new, n) }
	f["default"] = dockerizeDefault
	f["parseUrl"] = func(raw string) (*url.URL, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("parseUrl: %w", err)
		}
		return u, nil
	}
	f["atoi"] = func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("atoi %q: not an integer", s)
		}
		return n, nil
	}
	f["add"] = func(a, b int) int { return a + b }
	f["isTrue"] = func(s string) bool {
		switch strings.ToLower(s) {
		case "true", "1", "yes", "on":
			return true
		case "false", "0", "no", "off":
			return false
		}
		b, _ := strconv.ParseBool(strings.ToLower(s))
		return b
	}
	f["lower"] = strings.ToLower
	f["upper"] = strings.ToUpper
	f["jsonQuery"] = jsonQuery
	f["loop"] = func(args ...int) ([]int, error) {
		start, stop, step := 0, 0, 1
		switch len(args) {
		case 1:
			stop = args[0]
		case 2:
			start, stop = args[0], args[1]
		case 3:
			start, stop, step = args[0], args[1], args[2]
		default:
			return nil, fmt.Errorf("loop: wrong number of arguments, expected 1-3, but got %d", len(args))
		}
		if step <= 0 {
			if start < stop {
				return nil, fmt.Errorf("loop %d %d %d: the step must be positive", start, stop, step)
			}
			return nil, nil
		}
		if stop > start && (stop-start)/step > maxCount {
			return nil, fmt.Errorf("loop %d %d %d: more than %d items; refused", start, stop, step, maxCount)
		}
		var out []int
		for i := start; i < stop; i += step {
			out = append(out, i)
		}
		return out, nil
	}
}

// dockerizeContains is dockerize's contains: whether a map has a key.
func dockerizeContains(m any, key string) (bool, error) {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Map || v.Type().Key().Kind() != reflect.String {
		return false, fmt.Errorf("contains: wants a map and a key (dockerize's order), got %T", m)
	}
	return v.MapIndex(reflect.ValueOf(key).Convert(v.Type().Key())).IsValid(), nil
}

// dockerizeDefault is dockerize's default: VALUE first, and any string —
// the empty one too — is kept; only a missing value takes the default.
func dockerizeDefault(args ...any) (string, error) {
	if len(args) == 0 {
		return "", errors.New("default called with no values")
	}
	if s, ok := args[0].(string); ok {
		return s, nil
	}
	if len(args) < 2 {
		return "", errors.New("default called with no default value")
	}
	if args[1] == nil {
		return "", errors.New("default called with nil default value")
	}
	d, ok := args[1].(string)
	if !ok {
		return "", errors.New("default is not a string value, hint: surround it with double quotes")
	}
	return d, nil
}

// jsonQuery is dockerize's (jwilder/gojq's): a path of object keys and
// [N] list indexes separated by dots; a quoted piece ('a.b' or "a.b") is
// one key. Numbers come back as JSON's float64, as dockerize prints them.
func jsonQuery(doc, query string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return nil, fmt.Errorf("jsonQuery: the document is not JSON: %v", err)
	}
	if query == "." {
		return v, nil
	}
	for _, p := range splitQuery(query) {
		if len(p) >= 3 && p[0] == '[' && p[len(p)-1] == ']' {
			i, err := strconv.Atoi(p[1 : len(p)-1])
			if err != nil {
				return nil, fmt.Errorf("jsonQuery %q: %s is not an index", query, p)
			}
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("jsonQuery %q: %s: not an array", query, p)
			}
			if i < 0 || i >= len(list) {
				return nil, fmt.Errorf("jsonQuery %q: %s index out of range", query, p)
			}
			v = list[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("jsonQuery %q: %s: not an object", query, p)
		}
		if v, ok = m[p]; !ok {
			return nil, fmt.Errorf("jsonQuery %q: %s does not exist", query, p)
		}
	}
	return v, nil
}

func splitQuery(q string) []string {
	var out []string
	var b strings.Builder
	var quote rune
	for _, r := range q {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == '.':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteRune(r)
		}
	}
	return append(out, b.String())
}
