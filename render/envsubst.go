package render

import (
	"errors"
	"fmt"
	"strings"
)

// maxNesting bounds ${A:-${B:-…}}: a template is outside input, and each
// level is a frame of recursion.
const maxNesting = 64

var errUnclosed = errors.New("no closing }")

// subst is one envsubst run over one file. It keeps the POSIX shell's
// parameter expansion, without the shell:
//
//	${VAR}                      the value; unset is an error naming file and line
//	${VAR-word}  ${VAR:-word}   word if VAR is unset (":" also: or empty)
//	${VAR=word}  ${VAR:=word}   the same, and VAR is word for the rest of the file
//	${VAR+word}  ${VAR:+word}   word if VAR is set (":" also: and not empty), else nothing
//	${VAR?msg}   ${VAR:?msg}    an error with msg if VAR is unset (or empty)
//	$$                          a literal $ ($$VAR gives $VAR, as a8m/envsubst)
//
// A word is expanded as the shell does, nested ${…} and $VAR included, and
// only when it is used. The unbraced $VAR is replaced only for the names
// given with --allow (as the nginx image's envsubst script does), so $host
// in an nginx configuration stays as it is. A name that allowed refuses is
// left untouched.
type subst struct {
	file    string
	env     map[string]string
	local   map[string]string // what ${VAR=word} assigned
	allowed func(string) bool
	bare    bool
	line    int
}

func envsubst(file, s string, env map[string]string, allowed func(string) bool, bare bool) (string, error) {
	p := &subst{file: file, env: env, allowed: allowed, bare: bare, line: 1}
	var b strings.Builder
	b.Grow(len(s))
	if _, err := p.scan(&b, s, 0, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// scan copies s[i:] to b, expanding as it goes, up to the end (depth 0) or
// to the } that closes a word (depth > 0, its index returned). b is nil
// when the word is not used: then only its extent is found.
func (p *subst) scan(b *strings.Builder, s string, i, depth int) (int, error) {
	for i < len(s) {
		j := strings.IndexAny(s[i:], "$}\n")
		if j < 0 {
			put(b, s[i:])
			return len(s), nil
		}
		put(b, s[i:i+j])
		i += j
		switch s[i] {
		case '\n':
			p.line++
			put(b, "\n")
			i++
			continue
		case '}':
			if depth > 0 {
				return i, nil
			}
			put(b, "}")
			i++
			continue
		}
		// s[i] == '$'
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			put(b, "$")
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			n, err := p.braced(b, s, i, depth)
			if err != nil {
				return 0, err
			}
			i = n
		default:
			name := ident(s[i+1:])
			if name == "" || !p.allowed(name) || depth == 0 && !p.bare {
				put(b, "$")
				i++
				continue
			}
			if b != nil {
				v, err := p.value(name, "$"+name)
				if err != nil {
					return 0, err
				}
				b.WriteString(v)
			}
			i += 1 + len(name)
		}
	}
	if depth > 0 {
		return 0, errUnclosed
	}
	return i, nil
}

// braced expands the ${…} at s[i] into b and returns the index after it.
func (p *subst) braced(b *strings.Builder, s string, i, depth int) (int, error) {
	line := p.line
	end, err := p.expandBraced(b, s, i, depth)
	if err == errUnclosed {
		return 0, fmt.Errorf("%s:%d: %s: no closing } (it runs to the end of the file)", p.file, line, clipExpr(firstLine(s[i:])))
	}
	return end, err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (p *subst) expandBraced(b *strings.Builder, s string, i, depth int) (int, error) {
	name := ident(s[i+2:])
	if name == "" || !p.allowed(name) {
		put(b, "${") // ${1}, ${#x}, a name not allowed: not ours
		return i + 2, nil
	}
	line := p.line
	k := i + 2 + len(name)
	op := ""
	switch {
	case k < len(s) && s[k] == '}':
	case k+1 < len(s) && s[k] == ':' && strings.IndexByte("-=+?", s[k+1]) >= 0:
		op = s[k : k+2]
	case k < len(s) && strings.IndexByte("-=+?", s[k]) >= 0:
		op = s[k : k+1]
	case k >= len(s) || s[k] == '\n':
		return 0, fmt.Errorf("%s:%d: %s: no closing }", p.file, line, clipExpr(s[i:k]))
	default:
		expr := firstLine(s[i:])
		if j := strings.IndexByte(expr, '}'); j >= 0 {
			expr = expr[:j+1]
		}
		return 0, fmt.Errorf("%s:%d: %s: unsupported form; use ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:=default}, ${VAR:+alternate}, ${VAR:?message} (or leave out the colon), or $$ for a literal $",
			p.file, line, clipExpr(expr))
	}
	if op == "" {
		if b != nil {
			v, err := p.value(name, s[i:k+1])
			if err != nil {
				return 0, err
			}
			b.WriteString(v)
		}
		return k + 1, nil
	}
	if depth+1 > maxNesting {
		return 0, fmt.Errorf("%s:%d: ${…} nested more than %d deep", p.file, line, maxNesting)
	}
	start := k + len(op)
	v, set := p.lookup(name)
	colon := op[0] == ':'
	have := set && (!colon || v != "")
	var use bool // the word is the result
	switch op[len(op)-1] {
	case '-', '=':
		use = !have
	case '+':
		use = have
	case '?':
		if have {
			break
		}
		end, err := p.scan(nil, s, start, depth+1)
		if err != nil {
			return 0, err
		}
		if b == nil {
			return end + 1, nil
		}
		msg := strings.TrimSpace(s[start:end])
		if msg == "" {
			msg = "not set"
			if colon {
				msg = "not set or empty"
			}
		}
		return 0, fmt.Errorf("%s:%d: %s: %s", p.file, line, name, clipExpr(msg))
	}
	if !use || b == nil {
		end, err := p.scan(nil, s, start, depth+1)
		if err != nil {
			return 0, err
		}
		if b != nil && op[len(op)-1] != '+' {
			b.WriteString(v)
		}
		return end + 1, nil
	}
	var w strings.Builder
	end, err := p.scan(&w, s, start, depth+1)
	if err != nil {
		return 0, err
	}
	if op[len(op)-1] == '=' {
		if p.local == nil {
			p.local = map[string]string{}
		}
		p.local[name] = w.String()
	}
	b.WriteString(w.String())
	return end + 1, nil
}

func (p *subst) lookup(name string) (string, bool) {
	if v, ok := p.local[name]; ok {
		return v, true
	}
	v, ok := p.env[name]
	return v, ok
}

func (p *subst) value(name, expr string) (string, error) {
	v, ok := p.lookup(name)
	if !ok {
		return "", fmt.Errorf("%s:%d: %s: %s is not set (give a default with ${%s:-default})", p.file, p.line, expr, name, name)
	}
	return v, nil
}

// ident is the variable name at the start of s: a letter or _, then
// letters, digits and _. A lone _ is not one (the shell's last argument,
// often in a container's environment).
func ident(s string) string {
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= 'a' && s[n] <= 'z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	if s[:n] == "_" {
		return ""
	}
	return s[:n]
}

func put(b *strings.Builder, s string) {
	if b != nil {
		b.WriteString(s)
	}
}

// clipExpr keeps a quoted piece of the template short in a message.
func clipExpr(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
