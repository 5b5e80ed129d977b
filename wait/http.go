package wait

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/initbox/initbox/internal/jsonpath"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/wait/check"
)

// maxBody is how much of a response is read for --body-regex and
// --json-path; a health endpoint that sends more is not a health endpoint.
const maxBody = 1 << 20

// httpSettings are the HTTP options shared by every http(s) target.
type httpSettings struct {
	method    string
	body      []byte
	header    http.Header
	status    statusSet
	bodyRE    *regexp.Regexp
	jsonPath  *jsonpath.Path
	jsonValue *string
	follow    bool
	tls       *tls.Config // nil until loaded by Run
}

// httpChecker is ready when a request gets an expected status and, if asked,
// a body that matches.
type httpChecker struct {
	url     string
	display string
	s       *httpSettings
	client  *http.Client
}

var _ check.Checker = (*httpChecker)(nil)

func newHTTP(u *url.URL, display string, s *httpSettings) (*httpChecker, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("missing host; write it as %s://host[:port]/path", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
	}
	c := &httpChecker{url: u.String(), display: display, s: s}
	c.client = &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			// A clone each: the transport's HTTP/2 setup writes into its
			// TLS config, and targets are checked in parallel.
			TLSClientConfig:   s.tls.Clone(),
			ForceAttemptHTTP2: true,
			// A fresh connection every attempt: readiness of the server,
			// not of a connection pooled from an earlier attempt.
			DisableKeepAlives: true,
		},
		CheckRedirect: c.checkRedirect,
	}
	return c, nil
}

func (c *httpChecker) String() string { return c.display }

// checkRedirect follows redirects only when asked, and never carries the
// user's headers (which may hold credentials) to another host.
func (c *httpChecker) checkRedirect(req *http.Request, via []*http.Request) error {
	if !c.s.follow {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host || (via[0].URL.Scheme == "https" && req.URL.Scheme != "https") {
		for name := range c.s.header {
			req.Header.Del(name)
		}
	}
	return nil
}

func (c *httpChecker) Check(ctx context.Context) error {
	// A new body reader every attempt: the body is re-sent each time.
	req, err := http.NewRequestWithContext(ctx, c.s.method, c.url, bytes.NewReader(c.s.body))
	if err != nil {
		return err
	}
	for k, vs := range c.s.header {
		if strings.EqualFold(k, "Host") {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if errors.Is(err, http.ErrSchemeMismatch) {
			return fmt.Errorf("%w; use http:// for this server", http.ErrSchemeMismatch)
		}
		return check.Transport(err, check.TLSHint)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
	}()

	if !c.s.status.match(resp.StatusCode) {
		return statusError(resp, c.s.status)
	}
	if c.s.bodyRE == nil && c.s.jsonPath == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return check.Net(fmt.Errorf("reading response: %w", err))
	}
	if c.s.bodyRE != nil && !c.s.bodyRE.Match(body) {
		return check.NotReady(fmt.Errorf("HTTP %d, but the body does not match --body-regex %q", resp.StatusCode, c.s.bodyRE))
	}
	if c.s.jsonPath != nil {
		return c.checkJSON(body)
	}
	return nil
}

func (c *httpChecker) checkJSON(body []byte) error {
	p := c.s.jsonPath
	v, err := p.Eval(body)
	if errors.Is(err, jsonpath.ErrMissing) {
		return check.NotReady(fmt.Errorf("--json-path %s is not in the response", p))
	}
	if err != nil {
		return check.NotReady(fmt.Errorf("response is %w", err))
	}
	got := jsonpath.Text(v)
	if c.s.jsonValue != nil {
		if got != *c.s.jsonValue {
			return check.NotReady(fmt.Errorf("%s is %s, want %s", p, clip(got), clip(*c.s.jsonValue)))
		}
		return nil
	}
	if v == nil || v == false {
		return check.NotReady(fmt.Errorf("%s is %s", p, got))
	}
	return nil
}

// statusError explains an unexpected status and decides whether it can heal
// (docs/design.md §4): 400, 401, 403 and 501 cannot; 429 and 503 honour
// Retry-After; everything else (404 while routes load, 502 from a proxy
// whose backend is starting) is retried.
func statusError(resp *http.Response, want statusSet) error {
	err := fmt.Errorf("HTTP %s, want %s", resp.Status, want)
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w; not retried: check the URL, --method, --body and the credentials in --header (or list %d in --status if it means ready)", err, resp.StatusCode)
	case http.StatusNotImplemented:
		return fmt.Errorf("%w; not retried: the server does not implement --method %s", err, resp.Request.Method)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return retry.After(d, check.NotReady(err))
		}
	}
	return check.NotReady(err)
}

// maxRetryAfter caps a server's Retry-After: the overall --timeout still
// decides, but a bogus "Retry-After: 86400" must not silence progress logs.
const maxRetryAfter = time.Minute

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return 0, false
	}
	return min(max(d, 0), maxRetryAfter), true
}

func clip(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:77] + "...")
	}
	return strconv.Quote(s)
}
