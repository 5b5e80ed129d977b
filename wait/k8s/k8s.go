// Package k8s waits for Kubernetes objects: a Job to complete, a Pod to be
// Ready, a Deployment, StatefulSet or DaemonSet to be rolled out, a Service
// to have a ready endpoint, or any object to have a condition or a field
// value — with no kubectl and no client-go (which would add 22 MiB: a
// stripped static program getting one Job with client-go v0.37.2, against
// the same program without it), by listing and then watching the object
// (falling back to polling when watch is not permitted).
//
//	initbox wait k8s://job/db-migrate
//	initbox wait 'k8s://deployment/api?namespace=backend'
//	initbox wait k8s://service/postgres
//	initbox wait 'k8s://certificates.cert-manager.io/web-tls?condition=Ready'
//	initbox wait 'k8s://pods/worker-0?jsonpath=.status.phase&value=Running'
//
// In a pod it uses the service account (token, CA, KUBERNETES_SERVICE_HOST)
// and the pod's namespace; elsewhere --kubeconfig, $KUBECONFIG or
// ~/.kube/config. A 403 fails at once naming the rule the account needs.
package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/initbox/initbox/internal/jsonpath"
	"github.com/initbox/initbox/wait/check"
)

// builtin kinds: their API resource and what "ready" means for them.
type builtin struct {
	res  resource
	eval evaluator
	// group is the kind's own API group ("" for the core group): a name
	// given with a group (job.batch, deployments.v1.apps) is this kind only
	// in it.
	group string
	// service: the listed objects are the Service's EndpointSlices.
	service bool
}

var (
	jobs         = builtin{res: resource{group: "batch", version: "v1", name: "jobs", namespaced: true}, eval: evalJob, group: "batch"}
	pods         = builtin{res: resource{version: "v1", name: "pods", namespaced: true}, eval: evalPod}
	deployments  = builtin{res: resource{group: "apps", version: "v1", name: "deployments", namespaced: true}, eval: evalDeployment, group: "apps"}
	statefulsets = builtin{res: resource{group: "apps", version: "v1", name: "statefulsets", namespaced: true}, eval: evalStatefulSet, group: "apps"}
	daemonsets   = builtin{res: resource{group: "apps", version: "v1", name: "daemonsets", namespaced: true}, eval: evalDaemonSet, group: "apps"}
	services     = builtin{res: resource{group: "discovery.k8s.io", version: "v1", name: "endpointslices", namespaced: true}, eval: evalService, service: true}
	// builtins by every name kubectl takes for them without a group: the
	// kind (lowercased), the singular, the plural, the short name.
	builtins = map[string]builtin{
		"job": jobs, "jobs": jobs,
		"pod": pods, "pods": pods, "po": pods,
		"deployment": deployments, "deployments": deployments, "deploy": deployments,
		"statefulset": statefulsets, "statefulsets": statefulsets, "sts": statefulsets,
		"daemonset": daemonsets, "daemonsets": daemonsets, "ds": daemonsets,
		"service": services, "services": services, "svc": services,
	}
)

// splitSpec splits a kind as kubectl writes it: NAME, NAME.GROUP or
// NAME.VERSION.GROUP (NAME.VERSION for the core group).
func splitSpec(spec string) (name, version, group string) {
	name, group, _ = strings.Cut(spec, ".")
	if v, rest, ok := strings.Cut(group, "."); ok && isVersion(v) {
		return name, v, rest
	}
	if isVersion(group) {
		return name, group, ""
	}
	return name, "", group
}

// lookupBuiltin finds a built-in kind in every spelling kubectl accepts —
// job, jobs, job.batch, jobs.v1.batch — so that each reaches the same
// readiness rule. A group or version it is not in makes it another kind
// (found by discovery).
func lookupBuiltin(spec string) (builtin, bool) {
	name, version, group := splitSpec(strings.ToLower(spec))
	b, ok := builtins[name]
	if !ok || group != "" && group != b.group || version != "" && version != "v1" {
		return builtin{}, false
	}
	return b, true
}

// Resource names what a k8s://KIND/NAME target with a built-in kind reads:
// the API group and resource a Role must allow "list" and "watch" on (a
// Service is read through its EndpointSlices). ok is false for kinds found
// by API discovery, which need the same verbs on their own resource.
func Resource(kind string) (group, resource string, ok bool) {
	b, ok := lookupBuiltin(kind)
	return b.res.group, b.res.name, ok
}

// target is one parsed k8s:// URL.
type target struct {
	kindName, name, ns string
	condition          string // condition=Ready
	conditionStatus    string // condition=Ready=False: the status wanted (default True)
	jsonPath           *jsonpath.Path
	value              *string
	clusterScoped      bool // the resource has no namespace (a Node, a CRD, a ClusterRole)
}

type checker struct {
	target
	display string
	spec    string // the kind as given, for discovery
	b       *builtin
	eval    evaluator
	cli     *client

	mu       sync.Mutex
	res      resource
	resolved bool
	noWatch  bool // watch was forbidden: poll
}

var _ check.Checker = (*checker)(nil)

// New builds a checker for a k8s:// target.
func New(ctx context.Context, p check.Params) (check.Checker, error) {
	u := p.URL
	c := &checker{display: p.Display, spec: strings.ToLower(u.Host)}
	c.kindName = c.spec
	c.name = strings.Trim(u.Path, "/")
	if c.spec == "" || c.name == "" || strings.Contains(c.name, "/") {
		return nil, errors.New("write it as k8s://KIND/NAME, e.g. k8s://job/migrate or k8s://deployments.apps/api?namespace=prod")
	}
	if u.User != nil || u.Port() != "" {
		return nil, errors.New("k8s:// takes KIND/NAME, not a host; the API server comes from the service account or the kubeconfig")
	}
	q := u.Query()
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "namespace", "ns":
			c.ns = v
		case "condition":
			c.condition, c.conditionStatus, _ = strings.Cut(v, "=")
			if c.conditionStatus == "" {
				c.conditionStatus = "True"
			}
		case "jsonpath":
			jp, err := jsonpath.Parse(v)
			if err != nil {
				return nil, fmt.Errorf("?jsonpath: %w", err)
			}
			c.jsonPath = &jp
		case "value":
			v := v
			c.value = &v
		default:
			return nil, fmt.Errorf("unknown query parameter %q; k8s:// takes namespace, condition, jsonpath and value", k)
		}
	}
	if c.value != nil && c.jsonPath == nil {
		return nil, errors.New("?value needs ?jsonpath")
	}
	if c.condition != "" && c.jsonPath != nil {
		return nil, errors.New("?condition and ?jsonpath: give one")
	}
	c.eval = generic
	if b, ok := lookupBuiltin(c.spec); ok {
		c.res, c.resolved = b.res, true
		switch {
		case c.condition == "" && c.jsonPath == nil:
			c.b, c.eval = &b, b.eval
		case b.service:
			// A condition or field of the Service object itself.
			c.res = resource{version: "v1", name: "services", namespaced: true}
		}
		if b.service {
			c.kindName = "service"
		}
	}
	if !p.Load {
		return c, nil
	}
	cfg, err := loadConfig(ctx, p.Kubeconfig, p.KubeContext)
	if err != nil {
		return nil, err
	}
	if c.ns == "" {
		c.ns = cfg.namespace
	}
	slog.DebugContext(ctx, "kubernetes API", "server", cfg.server, "config", cfg.source, "namespace", c.ns)
	c.cli = newClient(cfg)
	return c, nil
}

func (c *checker) String() string { return c.display }

// selector selects the watched objects: the named object, or a Service's
// EndpointSlices.
func (c *checker) selector() url.Values {
	if c.b != nil && c.b.service {
		return url.Values{"labelSelector": {"kubernetes.io/service-name=" + c.name}}
	}
	return url.Values{"fieldSelector": {"metadata.name=" + c.name}}
}

// maxWatch bounds one watch when the attempt has no deadline of its own.
const maxWatch = 55 * time.Second

func (c *checker) Check(ctx context.Context) error {
	c.mu.Lock()
	res, resolved, noWatch := c.res, c.resolved, c.noWatch
	c.mu.Unlock()
	if !resolved {
		r, err := c.cli.discover(ctx, c.spec)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.res, c.resolved, res = r, true, r
		c.clusterScoped = !r.namespaced
		c.mu.Unlock()
	}
	sel := c.selector()
	for {
		items, rv, err := c.cli.list(ctx, res, c.ns, sel)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.code == http.StatusNotFound {
				if _, builtin := lookupBuiltin(c.spec); builtin {
					return fmt.Errorf("the API does not serve %s: %w; not retried", res, ae)
				}
				return check.NotReady(fmt.Errorf("the API does not serve %s (yet): %w", res, ae))
			}
			return err
		}
		v := c.eval(&c.target, items)
		switch {
		case v.fail != nil:
			return v.fail
		case v.ready:
			return nil
		case noWatch:
			return check.NotReady(errors.New(v.reason))
		}

		window := maxWatch
		if deadline, ok := ctx.Deadline(); ok {
			window = time.Until(deadline) - 250*time.Millisecond
		}
		if window < 500*time.Millisecond {
			return check.NotReady(errors.New(v.reason))
		}
		wctx, cancel := context.WithTimeout(ctx, window)
		state := map[string]object{}
		for _, it := range items {
			state[str(it, "metadata", "name")] = it
		}
		err = c.cli.watch(wctx, res, c.ns, sel, rv, window, func(ev event) (bool, error) {
			var o object
			if err := json.Unmarshal(ev.Object, &o); err != nil {
				return false, check.NotReady(fmt.Errorf("watching %s: %w", res, err))
			}
			switch ev.Type {
			case "ADDED", "MODIFIED":
				state[str(o, "metadata", "name")] = o
			case "DELETED":
				delete(state, str(o, "metadata", "name"))
			default: // BOOKMARK
				return false, nil
			}
			list := make([]object, 0, len(state))
			for _, it := range state {
				list = append(list, it)
			}
			v = c.eval(&c.target, list)
			return v.ready || v.fail != nil, v.fail
		})
		cancel()
		var ae *apiError
		switch {
		case v.ready:
			return nil
		case v.fail != nil:
			return v.fail
		case errors.Is(err, errGone):
			continue // the list is too old to watch from: list again
		case errors.As(err, &ae) && ae.code == http.StatusForbidden:
			c.mu.Lock()
			c.noWatch = true
			c.mu.Unlock()
			slog.InfoContext(ctx, "the account may not watch; polling instead (grant \"watch\" to react at once)", "target", c.display, "resource", res.String())
		case err != nil:
			return err
		}
		return check.NotReady(errors.New(v.reason))
	}
}
