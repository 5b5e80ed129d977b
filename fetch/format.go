package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/initbox/initbox/internal/expand"
	"github.com/initbox/initbox/internal/publish"
)

// Formats of the output.
const (
	Raw        = "raw"        // one value, byte-exact
	JSON       = "json"       // an object
	YAML       = "yaml"       // a mapping
	Dotenv     = "dotenv"     // NAME=value lines
	Properties = "properties" // Java .properties
	DirFormat  = "dir"        // one file per name (a Kubernetes Secret volume's shape)
)

// formatFor infers the format from the output path when none is given.
func formatFor(out string, single bool) string {
	switch strings.ToLower(filepath.Ext(out)) {
	case ".json":
		return JSON
	case ".yaml", ".yml":
		return YAML
	case ".env":
		return Dotenv
	case ".properties":
		return Properties
	}
	if strings.HasSuffix(out, "/") {
		return DirFormat
	}
	if single {
		return Raw
	}
	return ""
}

// valueBytes renders one value as a file's content: strings as they are
// (PEM and multi-line values untouched), a list of strings one per line (a
// CA chain), anything else as JSON.
func valueBytes(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []any:
		var lines []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				b, _ := json.Marshal(x)
				return b
			}
			lines = append(lines, strings.TrimRight(s, "\n"))
		}
		return []byte(strings.Join(lines, "\n") + "\n")
	case json.Number:
		return []byte(x.String())
	}
	b, _ := json.Marshal(v)
	return b
}

// encode renders a combined map in a file format.
func encode(format string, values map[string]any) ([]byte, error) {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	switch format {
	case JSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(values); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case YAML:
		return yaml.Marshal(yamlSafe(values))
	case Dotenv:
		var b strings.Builder
		for _, n := range names {
			if !expand.IsName(n) {
				return nil, fmt.Errorf("name %q is not a variable name (letters, digits, _; not starting with a digit): rename it with #key=%s,as=NAME or use another format", n, n)
			}
			q, err := dotenvQuote(string(valueBytes(values[n])))
			if err != nil {
				return nil, fmt.Errorf("name %s: %w", n, err)
			}
			fmt.Fprintf(&b, "%s=%s\n", n, q)
		}
		return []byte(b.String()), nil
	case Properties:
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s=%s\n", propEscape(n, true), propEscape(string(valueBytes(values[n])), false))
		}
		return []byte(b.String()), nil
	}
	return nil, fmt.Errorf("format %q cannot hold several values", format)
}

// yamlSafe turns json.Number into plain numbers so YAML writes them
// unquoted.
func yamlSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = yamlSafe(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = yamlSafe(e)
		}
		return l
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// dotenvQuote quotes a value for the dotenv dialect that docker compose,
// godotenv and python-dotenv read: bare when it is plainly safe; single
// quotes (no escapes, no interpolation) when it has no single quote or
// newline; otherwise double quotes with \\, \", \n, \r, \t and \$ escaped.
// Other control bytes cannot be written in any dotenv dialect reliably.
func dotenvQuote(v string) (string, error) {
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("the value is not UTF-8: use --format json or dir")
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return "", fmt.Errorf("the value has control bytes dotenv cannot hold: use --format json or dir")
		}
	}
	plain := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,/:@%+", r)) {
			plain = false
			break
		}
	}
	switch {
	case plain:
		return v, nil
	case !strings.ContainsAny(v, "'\n\r"):
		return "'" + v + "'", nil
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "$", `\$`)
	return `"` + r.Replace(v) + `"`, nil
}

// propEscape escapes for java.util.Properties.load: backslash escapes for
// \, newlines and tabs; in keys also = : # ! and spaces; a leading space of
// a value; every character outside printable ASCII as \uXXXX (UTF-16), so
// that Latin-1 and UTF-8 readers agree.
func propEscape(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\f':
			b.WriteString(`\f`)
		case key && strings.ContainsRune("=: #!", r), !key && r == ' ' && i == 0, !key && i == 0 && (r == '#' || r == '!'):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			for _, u := range utf16(r) {
				fmt.Fprintf(&b, `\u%04x`, u)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func utf16(r rune) []uint16 {
	if r < 0x10000 {
		return []uint16{uint16(r)}
	}
	r -= 0x10000
	return []uint16{uint16(0xd800 + (r >> 10)), uint16(0xdc00 + (r & 0x3ff))}
}

// checkDirName checks a name that becomes a file in dir format.
func checkDirName(n string) error { return publish.CheckName(n, false) }
