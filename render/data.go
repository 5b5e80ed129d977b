package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/joho/godotenv"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/internal/redact"
)

// A layer is one --values or --data argument: a path and its options.
type layer struct {
	name     string // --data NAME=…; "" for --values
	path     string
	format   string // json, yaml, toml, dotenv, properties, dir; "" = from the extension
	optional bool
}

// parseLayer reads PATH[?optional][?format=F] (options comma-separated after
// one "?"), with NAME= in front for --data.
func parseLayer(flag, arg string, named bool) (layer, error) {
	var l layer
	rest := arg
	if named {
		n, p, ok := strings.Cut(arg, "=")
		if !ok || n == "" || p == "" || !isIdent(n) {
			return l, fmt.Errorf("%s %q: want NAME=PATH, NAME a template identifier (letters, digits, _)", flag, arg)
		}
		l.name, rest = n, p
	}
	p, opts, _ := strings.Cut(rest, "?")
	l.path = p
	for _, o := range strings.Split(opts, ",") {
		switch k, v, _ := strings.Cut(strings.TrimSpace(o), "="); {
		case k == "":
		case k == "optional" && v == "":
			l.optional = true
		case k == "format" && (v == "json" || v == "yaml" || v == "toml" || v == "dotenv" || v == "properties" || v == "dir" || v == "text"):
			l.format = v
		default:
			return l, fmt.Errorf("%s %q: unknown option %q; use ?optional, ?format=json|yaml|toml|dotenv|properties|dir|text", flag, arg, o)
		}
	}
	if l.path == "" {
		return l, fmt.Errorf("%s %q: no path", flag, arg)
	}
	return l, nil
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// formatOf picks a format from the extension.
func formatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json", nil
	case ".yaml", ".yml":
		return "yaml", nil
	case ".toml":
		return "toml", nil
	case ".env":
		return "dotenv", nil
	case ".properties":
		return "properties", nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the extension; add ?format=json|yaml|toml|dotenv|properties|text", path)
}

// load reads a layer; a missing optional layer is (nil, nil).
func (l layer) load(max int64) (any, error) {
	fi, err := os.Stat(l.path)
	if errors.Is(err, fs.ErrNotExist) && l.optional {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	format := l.format
	if fi.IsDir() {
		if format != "" && format != "dir" {
			return nil, fmt.Errorf("%s is a directory, not %s", l.path, format)
		}
		return readDirMap(l.path, max)
	}
	if format == "" {
		if format, err = formatOf(l.path); err != nil {
			return nil, err
		}
	}
	if fi.Size() > max {
		return nil, exitcode.WithCode(exitcode.Failure, tooLarge(l.path, max))
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		return nil, err
	}
	v, err := decode(format, b)
	if err != nil {
		// Bad content is a failure (exit 1), not a usage error.
		return nil, exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: %s: %w", l.path, format, err))
	}
	return v, nil
}

// decode parses data of a format into maps, lists and scalars.
func decode(format string, b []byte) (any, error) {
	switch format {
	case "text":
		return string(b), nil
	case "json":
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, jsonError(b, err)
		}
		return normalize(v), nil
	case "yaml":
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		if v == nil {
			v = map[string]any{}
		}
		return normalize(v), nil
	case "helm-yaml":
		return decodeHelmYAML(b)
	case "toml":
		if err := checkDepth(b); err != nil {
			return nil, err
		}
		var v map[string]any
		if err := toml.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return normalize(v), nil
	case "dotenv":
		m, err := godotenv.UnmarshalBytes(b)
		if err != nil {
			return nil, err
		}
		return stringMap(m), nil
	case "properties":
		m, err := parseProperties(b)
		if err != nil {
			return nil, err
		}
		return stringMap(m), nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// normalize turns map[any]any (YAML with non-string keys) into
// map[string]any, so that get, dig and strict lookups work everywhere.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case []map[string]any: // TOML arrays of tables
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	case json.Number:
		// Integers stay integers (Helm makes every number a float64, so
		// that 10000000 prints as 1e+07); other numbers are float64.
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	}
	return v
}

// decodeHelmYAML reads YAML as Helm reads values and fromYaml's text: YAML
// 1.1 (yes, no, on and off are booleans; a key "on" is "true"), through
// JSON, with sigs.k8s.io/yaml, the library Helm uses — but integers stay
// integers.
func decodeHelmYAML(b []byte) (any, error) {
	j, err := sigsyaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return normalize(v), nil
}

// jsonError adds the line to a syntax error's byte offset.
func jsonError(b []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		return fmt.Errorf("line %d: %v", line, err)
	}
	return err
}

// readDirMap reads a directory as a map of file name to content: the shape
// of a Kubernetes Secret or ConfigMap volume, and of what `fetch` writes.
// Hidden names (..data, the versions, manifests) are skipped; links are
// followed where they stay inside the directory (the volume's NAME ->
// ..data/NAME), never out of it or round in a loop; subdirectories become
// nested maps. Every value is registered as a secret: a Secret volume holds
// secrets. A file larger than max is refused.
func readDirMap(dir string, max int64) (map[string]any, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return readDirMapAt(root, dir, ".", max, 0)
}

// maxDirDepth bounds the nesting of a directory read as a map.
const maxDirDepth = 64

func readDirMapAt(root *os.Root, dir, rel string, max int64, depth int) (map[string]any, error) {
	if depth > maxDirDepth {
		return nil, fmt.Errorf("%s: directories nested more than %d deep", filepath.Join(dir, rel), maxDirDepth)
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		at := path.Join(rel, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			to, err := publish.Resolve(root, at)
			if err != nil {
				return nil, exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: %w", dir, err))
			}
			if to == "." || to == rel || strings.HasPrefix(rel+"/", to+"/") {
				return nil, exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: the link %s leads back to %s (a loop); refused", dir, at, to))
			}
			at = to
		}
		fi, err := root.Stat(at)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			sub, err := readDirMapAt(root, dir, at, max, depth+1)
			if err != nil {
				return nil, err
			}
			m[e.Name()] = sub
			continue
		}
		if fi.Size() > max {
			return nil, tooLarge(filepath.Join(dir, at), max)
		}
		b, err := root.ReadFile(at)
		if err != nil {
			return nil, err
		}
		redact.Register(string(b))
		m[e.Name()] = string(b)
	}
	return m, nil
}

// merge deep-merges src into dst with Helm's semantics: maps merge key by
// key, anything else (lists too) replaces, and a null deletes the key.
func merge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
			dst[k] = merge(map[string]any{}, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// loadValues merges the --values layers in order.
func loadValues(args []string, max int64) (map[string]any, error) {
	values := map[string]any{}
	first := true
	for _, a := range args {
		l, err := parseLayer("--values", a, false)
		if err != nil {
			return nil, err
		}
		if l.format == "" || l.format == "yaml" {
			if f, _ := formatOf(l.path); l.format == "yaml" || f == "yaml" {
				l.format = "helm-yaml" // values are read as Helm reads them
			}
		}
		v, err := l.load(max)
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", l.path, err)
		}
		if v == nil {
			continue // optional and missing
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("--values %s: want a map at the top, got %T", l.path, v)
		}
		if first {
			// The first layer is the chart's values.yaml: a null there is a
			// key with no value (hasKey sees it); a later null deletes.
			values, first = m, false
			continue
		}
		values = merge(values, m)
	}
	return values, nil
}

// loadData reads the --data layers into a map by name.
func loadData(args []string, max int64) (map[string]any, error) {
	data := map[string]any{}
	for _, a := range args {
		l, err := parseLayer("--data", a, true)
		if err != nil {
			return nil, err
		}
		if _, dup := data[l.name]; dup {
			return nil, fmt.Errorf("--data %s: the name is given twice", l.name)
		}
		v, err := l.load(max)
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", l.name, err)
		}
		if v == nil {
			v = map[string]any{}
		}
		data[l.name] = v
	}
	return data, nil
}

// environ returns the environment as a map, limited to names with prefix.
func environ(env []string, prefix string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, prefix) {
			m[k] = v
		}
	}
	return m
}

// parseProperties reads Java .properties: key=value, key:value or
// key value; # and ! comments; backslash line continuations; \t \n \r \f
// \uXXXX escapes.
func parseProperties(b []byte) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var logical strings.Builder
	lineNo := 0
	flush := func(s string, at int) error {
		s = strings.TrimLeft(s, " \t\f")
		if s == "" || s[0] == '#' || s[0] == '!' {
			return nil
		}
		i := 0
		for i < len(s) {
			c := s[i]
			if c == '\\' {
				i += 2
				continue
			}
			if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
				break
			}
			i++
		}
		key := s[:min(i, len(s))]
		rest := strings.TrimLeft(s[min(i, len(s)):], " \t\f")
		if rest != "" && (rest[0] == '=' || rest[0] == ':') {
			rest = strings.TrimLeft(rest[1:], " \t\f")
		}
		k, err := unescapeProperties(key)
		if err != nil {
			return fmt.Errorf("line %d: %w", at, err)
		}
		v, err := unescapeProperties(rest)
		if err != nil {
			return fmt.Errorf("line %d: %w", at, err)
		}
		m[k] = v
		return nil
	}
	start := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if logical.Len() == 0 {
			start = lineNo
			if t := strings.TrimLeft(line, " \t\f"); t != "" && (t[0] == '#' || t[0] == '!') {
				continue
			}
		} else {
			line = strings.TrimLeft(line, " \t\f")
		}
		// An odd number of trailing backslashes continues the line.
		n := len(line) - len(strings.TrimRight(line, `\`))
		if n%2 == 1 {
			logical.WriteString(line[:len(line)-1])
			continue
		}
		logical.WriteString(line)
		if err := flush(logical.String(), start); err != nil {
			return nil, err
		}
		logical.Reset()
	}
	if logical.Len() > 0 {
		if err := flush(logical.String(), start); err != nil {
			return nil, err
		}
	}
	return m, sc.Err()
}

func unescapeProperties(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`bad \u escape in %q`, s)
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf(`bad \u escape in %q`, s)
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
