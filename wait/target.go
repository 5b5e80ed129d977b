package wait

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/initbox/initbox/internal/expand"
	"github.com/initbox/initbox/internal/jsonpath"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/wait/check"
)

// target is one parsed target URL with its per-target options.
type target struct {
	index   int    // position on the command line, to report in that order
	display string // redacted URL, safe to log
	checker check.Checker

	// From the URL fragment (#optional,timeout=30s,…).
	optional       bool
	timeout        time.Duration // 0: only the overall --timeout
	attemptTimeout time.Duration // 0: --attempt-timeout
	stable         int           // 0: --stable
	passwordFile   string        // "": --password-file
	// HTTP checks of this target alone (#status=, #json-path=, …),
	// overriding the flags; "" clears a check.
	httpChecks map[string]string
}

// httpCheckOptions are the per-target options of http(s) targets.
var httpCheckOptions = []string{"status", "body-regex", "json-path", "json-value"}

// hostPortRE matches the bare host:port form wait-for-it users write.
var hostPortRE = regexp.MustCompile(`^(\[[0-9a-fA-F:.%\w]+\]|[A-Za-z0-9][A-Za-z0-9.\-_]*):[0-9]+(#.*)?$`)

// parseTarget parses one target. ${VAR} is expanded first (internal/expand).
// Everything after '#' is initbox's own per-target options; the query belongs
// to the scheme (the HTTP query string, file's nonempty, postgres's sslmode).
func parseTarget(ctx context.Context, raw string, c *Config, h *httpSettings, load bool) (*target, error) {
	if hostPortRE.MatchString(raw) {
		raw = "tcp://" + raw
	}
	expanded, err := expand.URL(raw)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", redact.URLString(raw), err)
	}
	raw = expanded
	display := redact.URLString(raw)
	u, err := url.Parse(raw)
	if err != nil {
		var inner error = err
		if ue, ok := err.(*url.Error); ok {
			inner = ue.Err
		}
		return nil, fmt.Errorf("target %s: %v", display, inner)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("target %s: no scheme; write it as a URL: %s (or host:port for tcp)", display, knownSchemes())
	}
	if pw, ok := u.User.Password(); ok {
		// A password typed into the URL is a secret too: drivers may quote it.
		redact.Register(pw)
	}
	t := &target{}
	if err := t.parseOptions(u.EscapedFragment()); err != nil {
		return nil, fmt.Errorf("target %s: %w", display, err)
	}
	u.Fragment, u.RawFragment = "", ""
	t.display = redact.URL(u)
	redact.Public(t.display, u.Host) // the user's own text: never scrubbed into a hint

	scheme := strings.ToLower(u.Scheme)
	p, isProtocol := protocols[scheme]
	if t.passwordFile != "" && !p.password {
		return nil, fmt.Errorf("target %s: #password-file does not apply to %s:// targets", t.display, scheme)
	}
	if len(t.httpChecks) > 0 && scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("target %s: #%s applies to http(s):// targets only", t.display, slices.Sorted(maps.Keys(t.httpChecks))[0])
	}
	switch scheme {
	case "tcp", "tcp4", "tcp6":
		t.checker, err = newTCP(u, t.display)
	case "http", "https":
		var own *httpSettings
		if own, err = t.ownChecks(h); err == nil {
			t.checker, err = newHTTP(u, t.display, own)
		}
	case "unix":
		t.checker, err = newUnix(u, t.display)
	case "file":
		t.checker, err = newFile(u, t.display)
	case "dns":
		t.checker, err = newDNS(u, t.display)
	default:
		if !isProtocol {
			err = fmt.Errorf("unknown scheme %q; use %s", u.Scheme, knownSchemes())
			break
		}
		params := check.Params{URL: u, Display: t.display, TLS: c.TLS, Kubeconfig: c.Kubeconfig, KubeContext: c.KubeContext, Load: load}
		if p.password {
			if params.Password, err = t.password(u, c.PasswordFile, load); err != nil {
				break
			}
		}
		t.checker, err = p.new(ctx, params)
	}
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.display, err)
	}
	return t, nil
}

// password reads the target's password file, or --password-file, for a URL
// that carries no password of its own.
func (t *target) password(u *url.URL, global string, load bool) (string, error) {
	_, inURL := u.User.Password()
	file := t.passwordFile
	switch {
	case inURL && file != "":
		return "", errors.New("a password in the URL and #password-file: give one")
	case inURL:
		return "", nil
	case file == "":
		file = global
	}
	if file == "" || !load {
		return "", nil
	}
	pw, err := redact.ReadSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	return pw, nil
}

// ownChecks returns the shared HTTP settings with this target's own
// checks applied; a target without any shares them.
func (t *target) ownChecks(h *httpSettings) (*httpSettings, error) {
	if len(t.httpChecks) == 0 {
		return h, nil
	}
	own := *h
	var err error
	if v, ok := t.httpChecks["status"]; ok {
		if own.status, err = parseStatus(v); err != nil {
			return nil, fmt.Errorf("#status=%w", err)
		}
	}
	if v, ok := t.httpChecks["body-regex"]; ok {
		own.bodyRE = nil
		if v != "" {
			if own.bodyRE, err = regexp.Compile(v); err != nil {
				return nil, fmt.Errorf("#body-regex: %v", err)
			}
		}
	}
	if v, ok := t.httpChecks["json-path"]; ok {
		own.jsonPath, own.jsonValue = nil, nil // the flag's --json-value went with its path
		if v != "" {
			p, err := jsonpath.Parse(v)
			if err != nil {
				return nil, fmt.Errorf("#json-path: %w", err)
			}
			own.jsonPath = &p
		}
	}
	if v, ok := t.httpChecks["json-value"]; ok {
		if own.jsonPath == nil {
			return nil, errors.New("#json-value needs a JSON path (#json-path= or --json-path)")
		}
		own.jsonValue = &v
	}
	return &own, nil
}

// parseOptions reads the fragment (still percent-encoded): comma-separated
// key[=value] pairs, each decoded after the split, so that %2C gives a comma
// inside a value (#status=200%2C204).
func (t *target) parseOptions(frag string) error {
	if frag == "" {
		return nil
	}
	for _, kv := range strings.Split(frag, ",") {
		k, v, hasValue := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		v, _ = url.PathUnescape(v) // url.Parse has already refused a bad escape
		if slices.Contains(httpCheckOptions, k) {
			if !hasValue {
				return fmt.Errorf("#%s needs a value (#%s=…)", k, k)
			}
			if t.httpChecks == nil {
				t.httpChecks = map[string]string{}
			}
			t.httpChecks[k] = v
			continue
		}
		switch k {
		case "optional":
			t.optional = !hasValue || v == "true" || v == "1"
			if hasValue && !t.optional && v != "false" && v != "0" {
				err = fmt.Errorf("#optional=%q: use true or false", v)
			}
		case "timeout":
			t.timeout, err = positiveDuration(k, v)
		case "attempt-timeout":
			t.attemptTimeout, err = positiveDuration(k, v)
		case "password-file":
			t.passwordFile = v
			if v == "" {
				err = errors.New("#password-file= needs a path")
			}
		case "stable":
			t.stable, err = strconv.Atoi(v)
			if err != nil || t.stable < 1 {
				err = fmt.Errorf("#stable=%q: want a whole number ≥ 1", v)
			}
		case "":
			continue
		default:
			err = fmt.Errorf("unknown option #%s; per-target options are optional, timeout=DURATION, attempt-timeout=DURATION, stable=N, password-file=PATH, and for http(s) status=, body-regex=, json-path=, json-value=", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func positiveDuration(k, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("#%s=%q: want a duration like 30s or 2m", k, v)
	}
	return d, nil
}

// hostPort checks that a URL names a host and a numeric port.
func hostPort(u *url.URL) (string, error) {
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("missing host; write it as %s://host:port", u.Scheme)
	}
	if port == "" {
		return "", fmt.Errorf("missing port; write it as %s://%s:PORT", u.Scheme, u.Host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

// noExtras refuses URL parts a scheme does not use, so that a typo is not
// silently ignored.
func noExtras(u *url.URL, path, query bool) error {
	if !path && u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%s:// targets take no path (%q)", u.Scheme, u.Path)
	}
	if !query && u.RawQuery != "" {
		return fmt.Errorf("%s:// targets take no query (?%s); per-target options go after #", u.Scheme, u.RawQuery)
	}
	if u.User != nil && u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s:// targets take no user or password", u.Scheme)
	}
	return nil
}
