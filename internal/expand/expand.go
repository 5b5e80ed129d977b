// Package expand replaces ${VAR} with the environment variable VAR, so that
// secrets never need to be on the command line (docs/design.md §6):
//
//	initbox wait 'postgres://app:${PGPASSWORD}@db:5432/app'
//	initbox wait http://api/health --header 'Authorization: Bearer ${TOKEN}'
//
// Only the braced form is expanded: a lone $ stays as it is, and $${ gives a
// literal ${. A variable that is not set is an error naming it, never an
// empty value.
package expand

import (
	"fmt"
	"os"
	"strings"

	"github.com/initbox/initbox/internal/redact"
)

// Secret expands s and registers every value it inserted as a secret.
func Secret(s string) (string, error) {
	return expand(s, func(_ int, v string) string {
		redact.Register(v)
		return v
	})
}

// Plain expands s and registers nothing (an option's name, a key).
func Plain(s string) (string, error) {
	return expand(s, func(_ int, v string) string { return v })
}

// URL expands a URL template. A value inside the userinfo is percent-escaped
// (a password with @, / or # still parses) and registered as a secret; a
// value inside the query is query-escaped, and registered when its parameter
// looks sensitive (password=, token=, …); elsewhere it is inserted as it is,
// so ${DB_HOST} stays readable in logs.
func URL(s string) (string, error) {
	userStart, userEnd, queryStart := regions(s)
	return expand(s, func(at int, v string) string {
		switch {
		case at >= userStart && at < userEnd:
			redact.Register(v)
			return escape(v)
		case queryStart >= 0 && at > queryStart:
			if redact.SensitiveParam(paramAt(s, at)) {
				redact.Register(v)
			}
			return escape(v)
		}
		return v
	})
}

// escape percent-encodes every byte outside RFC 3986's unreserved set: valid
// in userinfo and query alike, and decoded back by every URL parser.
func escape(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// regions finds, in the template, where the userinfo and the query are.
func regions(s string) (userStart, userEnd, queryStart int) {
	userStart, userEnd, queryStart = -1, -1, -1
	end := strings.IndexByte(s, '#')
	if end < 0 {
		end = len(s)
	}
	if q := strings.IndexByte(s[:end], '?'); q >= 0 {
		queryStart = q
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return
	}
	auth := s[i+3:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		userStart, userEnd = i+3, i+3+at
	}
	return
}

// paramAt returns the name of the query parameter whose value holds at.
func paramAt(s string, at int) string {
	start := strings.LastIndexAny(s[:at], "?&;") + 1
	name, _, _ := strings.Cut(s[start:at], "=")
	return name
}

func expand(s string, insert func(at int, value string) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '$' { // $${ is a literal ${
			b.WriteString(s[i : j-1])
			b.WriteString("${")
			i = j + 2
			continue
		}
		k := strings.IndexByte(s[j:], '}')
		if k < 0 {
			return "", fmt.Errorf("unterminated ${ at %q", clip(s[j:]))
		}
		name := s[j+2 : j+k]
		if !IsName(name) {
			return "", fmt.Errorf("${%s}: not a variable name (letters, digits and _)", clip(name))
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(s[i:j])
		b.WriteString(insert(j, v))
		i = j + k + 1
	}
	return b.String(), nil
}

// IsName reports whether s is a variable name: letters, digits and _, not
// starting with a digit.
func IsName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
