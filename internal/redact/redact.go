// Package redact keeps secrets out of everything initbox prints: log lines,
// error messages and the termination message (docs/design.md §6).
//
// Two mechanisms work together:
//
//   - URL and URLString rewrite a URL for display: the userinfo and the values
//     of sensitive query parameters become REDACTED.
//   - Register records secret values as soon as a command reads them (a
//     password file, a header from the environment); Scrub replaces every
//     registered value, and anything shaped like URL credentials, in
//     arbitrary text. The log handler, the error printer and the termination
//     message all pass through Scrub, so a library error that quotes a
//     secret back is caught at the edge.
//
// The registry is process-wide on purpose: a secret may be learned deep inside
// one command's setup and must be hidden by the edges in app.Main, which know
// nothing of that command's Config.
package redact

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces every redacted value.
const Placeholder = "REDACTED"

// MinSecretLen is the shortest value Register scrubs by value. Shorter values
// would turn ordinary words and digits in logs into noise; they are still
// never logged directly.
const MinSecretLen = 4

var (
	mu       sync.RWMutex
	secrets  = map[string]struct{}{}
	replacer *strings.Replacer
)

// Register records secret values so that Scrub hides them. Values shorter
// than MinSecretLen are ignored (see MinSecretLen). A value with a trailing
// newline is registered with and without it.
func Register(values ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range values {
		for _, s := range []string{v, strings.TrimRight(v, "\r\n")} {
			if len(s) < MinSecretLen {
				continue
			}
			if _, ok := secrets[s]; !ok {
				secrets[s] = struct{}{}
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	// Longest first, so that a secret containing another is replaced whole.
	all := make([]string, 0, len(secrets))
	for s := range secrets {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Placeholder)
	}
	replacer = strings.NewReplacer(pairs...)
}

var (
	public  = map[string]struct{}{}
	protect *strings.Replacer // public text → a marker
	restore *strings.Replacer // and back
)

// Public records text the user wrote — a reference as shown, a path, a
// target — which Scrub leaves as it is even where a secret's value occurs
// in it: with the password "secret", vault://secret/app shown as
// vault://REDACTED/app would tell every reader the password. Only text
// that holds no secret of its own may be recorded (a reference's Display,
// never its Raw).
func Public(texts ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, t := range texts {
		if _, ok := public[t]; len(t) >= MinSecretLen && !ok {
			public[t] = struct{}{}
			changed = true
		}
	}
	if !changed {
		return
	}
	all := make([]string, 0, len(public))
	for t := range public {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	var fwd, back []string
	for i, t := range all {
		marker := privateMarker(i)
		fwd, back = append(fwd, t, marker), append(back, marker, t)
	}
	protect, restore = strings.NewReplacer(fwd...), strings.NewReplacer(back...)
}

// privateMarker stands for public text i while secrets are replaced: made
// of private-use characters only, so that no secret's value can match in it.
func privateMarker(i int) string {
	var b strings.Builder
	b.WriteRune('\ue000')
	for _, d := range fmt.Sprint(i) {
		b.WriteRune('\ue100' + (d - '0'))
	}
	b.WriteRune('\ue001')
	return b.String()
}

var (
	// scheme://user:pass@ or scheme://token@ inside free text.
	userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@"'<>]+@`)
	// ?token=… or &password=… inside free text.
	queryRE = regexp.MustCompile(`([?&;][^=&\s"'<>#]*=)[^&\s"'<>#]*`)
)

// Scrub returns s with every registered secret, every URL userinfo and the
// values of sensitive query parameters replaced by REDACTED.
func Scrub(s string) string {
	mu.RLock()
	r, pr, rs := replacer, protect, restore
	mu.RUnlock()
	if r != nil {
		if pr != nil {
			s = rs.Replace(r.Replace(pr.Replace(s)))
		} else {
			s = r.Replace(s)
		}
	}
	if strings.Contains(s, "://") {
		s = userinfoRE.ReplaceAllString(s, "${1}"+Placeholder+"@")
	}
	if strings.ContainsAny(s, "?&;") {
		s = queryRE.ReplaceAllStringFunc(s, func(m string) string {
			eq := strings.IndexByte(m, '=')
			if SensitiveParam(m[1:eq]) {
				return m[:eq+1] + Placeholder
			}
			return m
		})
	}
	return s
}

// sensitiveWords are matched case-insensitively anywhere in a parameter name,
// so that X-Amz-Signature, access_token, sslpassword and api-key all match.
var sensitiveWords = []string{
	"token", "pass", "pwd", "secret", "key", "sig", "credential", "auth", "session", "cookie",
}

// SensitiveParam reports whether a query parameter or header named name
// probably carries a secret.
func SensitiveParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// URL returns u for display: userinfo replaced by REDACTED, sensitive query
// values replaced by REDACTED, and any registered secret scrubbed.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User(Placeholder)
	}
	if c.RawQuery != "" {
		// The query as the user wrote it (condition=Ready=False stays
		// readable), re-encoded only where a sensitive value is replaced.
		q := c.Query()
		sensitive := false
		for k, vs := range q {
			if SensitiveParam(k) {
				sensitive = true
				for i := range vs {
					vs[i] = Placeholder
				}
			}
		}
		if sensitive {
			c.RawQuery = q.Encode()
		}
	}
	return Scrub(c.String())
}

// URLString is URL for a raw string. A string that does not parse is scrubbed
// as free text and its query dropped, because the parser cannot say which part
// is secret.
func URLString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		s := Scrub(raw)
		if i := strings.IndexByte(s, '?'); i >= 0 {
			s = s[:i] + "?" + Placeholder
		}
		return s
	}
	return URL(u)
}

// ReadSecretFile reads a secret from a file (a mounted Kubernetes Secret, a
// Docker secret), drops one trailing newline, and registers the value so
// that Scrub hides it. Errors name the file, never its content.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	Register(s)
	return s, nil
}
