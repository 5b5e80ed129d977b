package render

import (
	"fmt"
	"strings"
)

// envsubst replaces ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?message} and ${VAR?message} in s. Only the ${…} forms are
// replaced: $host in an nginx configuration stays as it is. A name that
// allowed refuses is left untouched (as the nginx image's script does); an
// allowed name that is unset (or empty, for the ":" forms) without a default
// is an error naming file and line.
func envsubst(name, s string, env map[string]string, allowed func(string) bool) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	line := 1
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		line += strings.Count(s[:i], "\n")
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s[i:])
			return b.String(), nil
		}
		expr := s[i+2 : i+j]
		whole := s[i : i+j+1]
		v, keep, err := expand(expr, env, allowed)
		if err != nil {
			return "", fmt.Errorf("%s:%d: %s: %w", name, line, whole, err)
		}
		if keep {
			b.WriteString(whole)
		} else {
			b.WriteString(v)
		}
		line += strings.Count(whole, "\n")
		s = s[i+j+1:]
	}
}

// expand evaluates one ${…}; keep means "not ours, leave it".
func expand(expr string, env map[string]string, allowed func(string) bool) (string, bool, error) {
	n := 0
	for n < len(expr) && (expr[n] == '_' || expr[n] >= 'A' && expr[n] <= 'Z' || expr[n] >= 'a' && expr[n] <= 'z' || n > 0 && expr[n] >= '0' && expr[n] <= '9') {
		n++
	}
	name, op := expr[:n], expr[n:]
	if name == "" {
		return "", true, nil // ${1}, ${#x}, …: not a variable reference
	}
	if !allowed(name) {
		return "", true, nil
	}
	v, set := env[name]
	switch {
	case op == "":
		if !set {
			return "", false, fmt.Errorf("%s is not set (give a default with ${%s:-default})", name, name)
		}
		return v, false, nil
	case strings.HasPrefix(op, ":-"):
		if !set || v == "" {
			return op[2:], false, nil
		}
		return v, false, nil
	case strings.HasPrefix(op, "-"):
		if !set {
			return op[1:], false, nil
		}
		return v, false, nil
	case strings.HasPrefix(op, ":?"):
		if !set || v == "" {
			return "", false, fmt.Errorf("%s: %s", name, msgOr(op[2:], "not set or empty"))
		}
		return v, false, nil
	case strings.HasPrefix(op, "?"):
		if !set {
			return "", false, fmt.Errorf("%s: %s", name, msgOr(op[1:], "not set"))
		}
		return v, false, nil
	}
	return "", false, fmt.Errorf("unsupported form; use ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message} or ${VAR?message}")
}

func msgOr(msg, def string) string {
	if msg == "" {
		return def
	}
	return msg
}
