package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/initbox/initbox/internal/expand"
	"github.com/initbox/initbox/internal/publish"
)

// Formats of the output.
const (
	Raw        = "raw"        // one value, byte-exact
	JSON       = "json"       // an object
	YAML       = "yaml"       // a mapping
	Dotenv     = "dotenv"     // NAME=value lines (envfile.go: and shell, env-file, systemd)
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
	case ".sh":
		return Shell
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
// CA chain), anything else as compact JSON, with <, > and & as they are
// (not \u003c: a value is not HTML).
func valueBytes(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []any:
		var lines []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return plainJSON(x)
			}
			lines = append(lines, strings.TrimRight(s, "\n"))
		}
		return []byte(strings.Join(lines, "\n") + "\n")
	case json.Number:
		return []byte(x.String())
	}
	return plainJSON(v)
}

func plainJSON(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
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
	case Dotenv, Shell, EnvFile, Systemd:
		var b strings.Builder
		if format == EnvFile {
			// Its values are literal, so a shell that sources the file by
			// mistake would run `$(…)` or the word after a space: this first
			// line stops it before any value. docker reads a line without =
			// as a name to take from its own environment, and has none.
			b.WriteString("return\n")
		}
		for _, n := range names {
			if !expand.IsName(n) {
				return nil, fmt.Errorf("name %q is not a variable name (letters, digits, _; not starting with a digit): rename it with #key=%s,as=NAME or use another format", n, n)
			}
			v := string(valueBytes(values[n]))
			var q string
			var err error
			switch format {
			case Dotenv:
				q, err = dotenvQuote(v)
			case Shell:
				q, err = shellQuote(v)
				b.WriteString("export ")
			case EnvFile:
				q, err = envFileValue(n, v)
			case Systemd:
				q, err = systemdQuote(v)
			}
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
