package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/initbox/initbox/wait/check"
)

// client makes the few API calls a wait needs: list, watch, discovery.
type client struct {
	cfg  *config
	http *http.Client
}

// pingAfter is how long an HTTP/2 connection may be silent before it is
// pinged, and how long the ping may go unanswered before the connection is
// dropped: an API server lost without a FIN (an HA control-plane node
// gone) is replaced within twice this, as kubectl replaces it, with or
// without --attempt-timeout. A variable for tests.
var pingAfter = 5 * time.Second

func newClient(cfg *config) *client {
	dialer := &net.Dialer{Timeout: 10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}}
	return &client{cfg: cfg, http: &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg.tls, ForceAttemptHTTP2: true, Proxy: http.ProxyFromEnvironment,
			DialContext: dialer.DialContext, TLSHandshakeTimeout: 10 * time.Second,
			HTTP2: &http.HTTP2Config{SendPingTimeout: pingAfter, PingTimeout: pingAfter}},
		// The token must never follow a redirect to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// resource names one kind of object in the API.
type resource struct {
	group, version, name string // name is the plural resource: jobs
	namespaced           bool
}

func (r resource) String() string {
	if r.group == "" {
		return r.name
	}
	return r.name + "." + r.group
}

// path returns the collection's URL path in namespace ns.
func (r resource) path(ns string) string {
	p := "/api/" + r.version
	if r.group != "" {
		p = "/apis/" + r.group + "/" + r.version
	}
	if r.namespaced {
		p += "/namespaces/" + url.PathEscape(ns)
	}
	return p + "/" + r.name
}

// apiError is a failed call, with what the server said.
type apiError struct {
	code    int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.message) }

// get does a GET and returns the body of a 2xx response, or the error the
// status implies: 401 and 403 are permanent (403 names the RBAC rule that is
// missing), 404 is returned as *apiError for the caller to judge, 429 and 5xx
// are NotReady.
func (c *client) get(ctx context.Context, path string, q url.Values, verbs []string, r resource, ns string) (*http.Response, error) {
	u := c.cfg.server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "initbox")
	switch {
	case c.cfg.exec != nil:
		tok, _, err := c.cfg.exec.credential(ctx)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	case c.cfg.token != nil:
		tok, err := c.cfg.token()
		if err != nil {
			return nil, fmt.Errorf("reading the service account token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case c.cfg.username != "":
		req.SetBasicAuth(c.cfg.username, c.cfg.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		err = check.Transport(err, "check the CA in the kubeconfig or service account")
		return nil, fmt.Errorf("calling the Kubernetes API at %s: %w", c.cfg.server, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	ae := &apiError{code: resp.StatusCode, message: statusMessage(resp)}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.cfg.exec != nil && !retried(ctx):
		// The plugin's credential may have been revoked early: ask it
		// again once, as kubectl does.
		c.cfg.exec.forget()
		return c.get(context.WithValue(ctx, retriedKey{}, true), path, q, verbs, r, ns)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%w; not retried: the credentials (%s) were rejected", ae, c.cfg.source)
	case resp.StatusCode == http.StatusForbidden:
		return nil, forbidden(ae, verbs, r, ns)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, check.NotReady(ae)
	}
	return nil, ae
}

type retriedKey struct{}

func retried(ctx context.Context) bool { return ctx.Value(retriedKey{}) != nil }

// statusMessage reads the message of a metav1.Status body.
func statusMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return st.Message
	}
	return strings.TrimSpace(resp.Status)
}

// forbidden says exactly which permission the service account lacks — the
// question k8s-wait-for users ask most.
func forbidden(ae *apiError, verbs []string, r resource, ns string) error {
	where := "cluster-wide (a ClusterRole)"
	if r.namespaced {
		where = fmt.Sprintf("in namespace %q (a Role and RoleBinding there)", ns)
	}
	quoted := make([]string, len(verbs))
	for i, v := range verbs {
		quoted[i] = strconv.Quote(v)
	}
	return fmt.Errorf("%w; not retried: the account needs verbs [%s] on %s %s: rules: [{apiGroups: [%q], resources: [%q], verbs: [%s]}]",
		ae, strings.Join(quoted, ", "), r, where, r.group, r.name, strings.Join(quoted, ", "))
}

// object is one API object, decoded loosely.
type object = map[string]any

// list lists the objects of r in ns that match the selector, and returns
// them with the list's resourceVersion.
func (c *client) list(ctx context.Context, r resource, ns string, sel url.Values) ([]object, string, error) {
	resp, err := c.get(ctx, r.path(ns), sel, []string{"list", "watch"}, r, ns)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var l struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []object `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, "", check.NotReady(fmt.Errorf("decoding the %s list: %w", r, err))
	}
	return l.Items, l.Metadata.ResourceVersion, nil
}

// event is one line of a watch stream.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// errGone says the watch's resourceVersion is too old: list again.
var errGone = errors.New("watch expired (410 Gone)")

// watch streams changes of the objects matching sel from resourceVersion
// rv, calling onEvent for each, until onEvent returns done, the window
// closes (nil), or an error.
func (c *client) watch(ctx context.Context, r resource, ns string, sel url.Values, rv string, window time.Duration, onEvent func(event) (done bool, err error)) error {
	q := url.Values{}
	for k, v := range sel {
		q[k] = v
	}
	q.Set("watch", "1")
	q.Set("resourceVersion", rv)
	q.Set("allowWatchBookmarks", "true")
	q.Set("timeoutSeconds", strconv.Itoa(max(1, int(window.Seconds()))))
	resp, err := c.get(ctx, r.path(ns), q, []string{"watch"}, r, ns)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil // the window closed
			}
			return check.NotReady(fmt.Errorf("watching %s: %w", r, err))
		}
		if ev.Type == "ERROR" {
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			json.Unmarshal(ev.Object, &st)
			if st.Code == http.StatusGone {
				return errGone
			}
			return check.NotReady(fmt.Errorf("watching %s: %s", r, st.Message))
		}
		done, err := onEvent(ev)
		if done || err != nil {
			return err
		}
	}
}

// discover finds a resource given as kubectl does (plural, singular, short
// name or kind; optionally .version.group or .group). Without a group it
// is looked for in the core group first, then in every group the server
// lists, in the server's order of preference, as kubectl does.
func (c *client) discover(ctx context.Context, spec string) (resource, error) {
	name, version, group := splitSpec(spec)
	if group == "" {
		r, found, err := c.findIn(ctx, "", "v1", name)
		if err != nil || found {
			return r, err
		}
		if version == "" {
			return c.discoverGroups(ctx, name, spec)
		}
		return resource{}, check.NotReady(fmt.Errorf("the API does not serve %q in /api/v1 (yet): is its CRD installed?", name))
	}
	if version == "" {
		resp, err := c.get(ctx, "/apis/"+group, nil, []string{"get"}, resource{}, "")
		if err != nil {
			return resource{}, notServed(err, spec)
		}
		var g struct {
			PreferredVersion struct {
				Version string `json:"version"`
			} `json:"preferredVersion"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxDiscovery)).Decode(&g)
		resp.Body.Close()
		if err != nil || g.PreferredVersion.Version == "" {
			return resource{}, check.NotReady(fmt.Errorf("discovering API group %s: no preferred version", group))
		}
		version = g.PreferredVersion.Version
	}
	r, found, err := c.findIn(ctx, group, version, name)
	if err != nil || found {
		return r, err
	}
	return resource{}, check.NotReady(fmt.Errorf("the API does not serve %q in /apis/%s/%s (yet): is its CRD installed?", name, group, version))
}

// maxDiscovery caps a discovery answer (the largest real ones are a few
// hundred KiB).
const maxDiscovery = 16 << 20

// maxGroups bounds the groups a name is looked for in.
const maxGroups = 500

// discoverGroups looks for name in each API group's preferred version.
func (c *client) discoverGroups(ctx context.Context, name, spec string) (resource, error) {
	resp, err := c.get(ctx, "/apis", nil, []string{"get"}, resource{}, "")
	if err != nil {
		return resource{}, notServed(err, spec)
	}
	var list struct {
		Groups []struct {
			Name             string `json:"name"`
			PreferredVersion struct {
				Version string `json:"version"`
			} `json:"preferredVersion"`
		} `json:"groups"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, maxDiscovery)).Decode(&list)
	resp.Body.Close()
	if err != nil {
		return resource{}, check.NotReady(fmt.Errorf("discovering the API groups: %w", err))
	}
	for i, g := range list.Groups {
		if i == maxGroups {
			break
		}
		if g.Name == "" || g.PreferredVersion.Version == "" {
			continue
		}
		r, found, err := c.findIn(ctx, g.Name, g.PreferredVersion.Version, name)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.code >= 500 || check.IsNotReady(err) {
				continue // an aggregated API that is down: kubectl skips it too
			}
			return resource{}, err
		}
		if found {
			return r, nil
		}
	}
	return resource{}, check.NotReady(fmt.Errorf("the API does not serve %q in any group (yet): is its CRD installed? (or name it with its group, as RESOURCE.GROUP)", name))
}

// findIn looks for name in one group version's resources.
func (c *client) findIn(ctx context.Context, group, version, name string) (resource, bool, error) {
	path := "/api/v1"
	if group != "" {
		path = "/apis/" + group + "/" + version
	}
	resp, err := c.get(ctx, path, nil, []string{"get"}, resource{}, "")
	if err != nil {
		return resource{}, false, notServed(err, name)
	}
	defer resp.Body.Close()
	var list struct {
		GroupVersion string `json:"groupVersion"`
		Resources    []struct {
			Name         string   `json:"name"`
			SingularName string   `json:"singularName"`
			ShortNames   []string `json:"shortNames"`
			Kind         string   `json:"kind"`
			Namespaced   bool     `json:"namespaced"`
		} `json:"resources"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscovery)).Decode(&list); err != nil {
		return resource{}, false, check.NotReady(fmt.Errorf("discovering %s: %w", path, err))
	}
	for _, res := range list.Resources {
		if strings.Contains(res.Name, "/") {
			continue // a subresource such as jobs/status
		}
		if res.Name == name || res.SingularName == name || strings.EqualFold(res.Kind, name) || slices.Contains(res.ShortNames, name) {
			return resource{group: group, version: version, name: res.Name, namespaced: res.Namespaced}, true, nil
		}
	}
	return resource{}, false, nil
}

// notServed turns a 404 during discovery into NotReady: a CRD may be
// installed by an earlier step.
func notServed(err error, spec string) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.code == http.StatusNotFound {
		return check.NotReady(fmt.Errorf("the API does not serve %q (yet): is its CRD installed?", spec))
	}
	return err
}

func isVersion(s string) bool {
	return len(s) > 1 && s[0] == 'v' && s[1] >= '0' && s[1] <= '9'
}
