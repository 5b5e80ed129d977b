package k8s

import (
	"errors"
	"fmt"
	"strings"

	"github.com/initbox/initbox/internal/jsonpath"
)

// verdict is what an evaluation of the current objects says.
type verdict struct {
	ready  bool
	reason string // why not ready, for the progress log and the timeout message
	fail   error  // set when waiting cannot help (a failed Job)
}

func waiting(format string, args ...any) verdict {
	return verdict{reason: fmt.Sprintf(format, args...)}
}

// evaluator judges the listed objects (for one-object kinds, zero or one).
type evaluator func(t *target, items []object) verdict

// field walks nested maps.
func field(o object, path ...string) any {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(o object, path ...string) string {
	s, _ := field(o, path...).(string)
	return s
}

// num reads an integer field (JSON numbers decode as float64); missing is
// def.
func num(o object, def int64, path ...string) int64 {
	if f, ok := field(o, path...).(float64); ok {
		return int64(f)
	}
	return def
}

type condition struct {
	status, reason, message string
	observedGeneration      int64
	found                   bool
}

func cond(o object, typ string) condition {
	list, _ := field(o, "status", "conditions").([]any)
	for _, c := range list {
		m, ok := c.(map[string]any)
		if !ok || !strings.EqualFold(str(m, "type"), typ) {
			continue
		}
		return condition{status: str(m, "status"), reason: str(m, "reason"), message: str(m, "message"),
			observedGeneration: num(m, 0, "observedGeneration"), found: true}
	}
	return condition{}
}

func (c condition) String() string {
	if !c.found {
		return "not reported yet"
	}
	s := c.status
	if c.reason != "" {
		s += " (" + c.reason
		if c.message != "" {
			s += ": " + c.message
		}
		s += ")"
	}
	return s
}

// one returns the single object of a one-object kind, or a waiting verdict.
func one(t *target, items []object) (object, *verdict) {
	if len(items) == 0 {
		if t.clusterScoped {
			v := waiting("%s %q not found (yet)", t.kindName, t.name)
			return nil, &v
		}
		v := waiting("%s %q not found in namespace %q (yet)", t.kindName, t.name, t.ns)
		return nil, &v
	}
	return items[0], nil
}

// stale reports whether the controller has not yet seen the latest spec.
func stale(o object) bool {
	return num(o, 0, "status", "observedGeneration") < num(o, 0, "metadata", "generation")
}

func evalJob(t *target, items []object) verdict {
	o, v := one(t, items)
	if v != nil {
		return *v
	}
	if c := cond(o, "Complete"); c.status == "True" {
		return verdict{ready: true}
	}
	if c := cond(o, "Failed"); c.status == "True" {
		return verdict{fail: fmt.Errorf("job %s failed (%s: %s); not retried", t.name, c.reason, c.message)}
	}
	return waiting("job %s: %d active, %d succeeded, %d failed", t.name,
		num(o, 0, "status", "active"), num(o, 0, "status", "succeeded"), num(o, 0, "status", "failed"))
}

func evalPod(t *target, items []object) verdict {
	o, v := one(t, items)
	if v != nil {
		return *v
	}
	phase := str(o, "status", "phase")
	if phase == "Succeeded" || phase == "Failed" {
		return verdict{fail: fmt.Errorf("pod %s has phase %s and will never be Ready; not retried (wait for a condition or jsonpath instead)", t.name, phase)}
	}
	c := cond(o, "Ready")
	if c.status == "True" {
		return verdict{ready: true}
	}
	return waiting("pod %s: phase %s, Ready %s", t.name, phase, c)
}

func evalDeployment(t *target, items []object) verdict {
	o, v := one(t, items)
	if v != nil {
		return *v
	}
	if stale(o) {
		return waiting("deployment %s: the controller has not seen the latest spec yet", t.name)
	}
	if c := cond(o, "Progressing"); c.reason == "ProgressDeadlineExceeded" {
		return verdict{fail: fmt.Errorf("deployment %s exceeded its progress deadline: %s; not retried", t.name, c.message)}
	}
	want := num(o, 1, "spec", "replicas")
	updated := num(o, 0, "status", "updatedReplicas")
	total := num(o, 0, "status", "replicas")
	available := num(o, 0, "status", "availableReplicas")
	switch {
	case updated < want:
		return waiting("deployment %s: %d of %d replicas updated", t.name, updated, want)
	case total > updated:
		return waiting("deployment %s: %d old replicas pending termination", t.name, total-updated)
	case available < updated:
		return waiting("deployment %s: %d of %d updated replicas available", t.name, available, updated)
	}
	return verdict{ready: true}
}

func evalStatefulSet(t *target, items []object) verdict {
	o, v := one(t, items)
	if v != nil {
		return *v
	}
	if stale(o) {
		return waiting("statefulset %s: the controller has not seen the latest spec yet", t.name)
	}
	want := num(o, 1, "spec", "replicas")
	ready := num(o, 0, "status", "readyReplicas")
	if ready < want {
		return waiting("statefulset %s: %d of %d pods ready", t.name, ready, want)
	}
	if s := str(o, "spec", "updateStrategy", "type"); s != "" && s != "RollingUpdate" {
		return verdict{ready: true} // OnDelete: rollouts are manual
	}
	if partition := num(o, 0, "spec", "updateStrategy", "rollingUpdate", "partition"); partition > 0 {
		if updated := num(o, 0, "status", "updatedReplicas"); updated < want-partition {
			return waiting("statefulset %s: %d of %d pods updated (partition %d)", t.name, updated, want-partition, partition)
		}
		return verdict{ready: true}
	}
	if cur, upd := str(o, "status", "currentRevision"), str(o, "status", "updateRevision"); cur != upd {
		return waiting("statefulset %s: %d of %d pods at revision %s", t.name, num(o, 0, "status", "updatedReplicas"), want, upd)
	}
	return verdict{ready: true}
}

func evalDaemonSet(t *target, items []object) verdict {
	o, v := one(t, items)
	if v != nil {
		return *v
	}
	if stale(o) {
		return waiting("daemonset %s: the controller has not seen the latest spec yet", t.name)
	}
	desired := num(o, 0, "status", "desiredNumberScheduled")
	if updated := num(o, 0, "status", "updatedNumberScheduled"); updated < desired {
		return waiting("daemonset %s: %d of %d pods updated", t.name, updated, desired)
	}
	if available := num(o, 0, "status", "numberAvailable"); available < desired {
		return waiting("daemonset %s: %d of %d pods available", t.name, available, desired)
	}
	return verdict{ready: true}
}

// evalService counts ready endpoints over the Service's EndpointSlices. An
// endpoint whose ready condition is absent counts as ready (the API says so).
func evalService(t *target, slices []object) verdict {
	readyN, total := 0, 0
	for _, s := range slices {
		eps, _ := s["endpoints"].([]any)
		for _, e := range eps {
			m, _ := e.(map[string]any)
			total++
			if r, ok := field(m, "conditions", "ready").(bool); !ok || r {
				readyN++
			}
		}
	}
	if readyN > 0 {
		return verdict{ready: true}
	}
	if len(slices) == 0 {
		return waiting("service %s has no EndpointSlices in namespace %q (yet): no pods match its selector, or it does not exist", t.name, t.ns)
	}
	return waiting("service %s: 0 of %d endpoints ready", t.name, total)
}

// generic evaluates condition= or jsonpath=/value= on any object, or just
// its existence when neither is given.
func generic(t *target, items []object) verdict {
	o, v := one(t, items)
	if v != nil {
		return *v
	}
	switch {
	case t.condition != "":
		c := cond(o, t.condition)
		if c.found && c.observedGeneration > 0 && c.observedGeneration < num(o, 0, "metadata", "generation") {
			return waiting("%s %s: condition %s is for an older generation", t.kindName, t.name, t.condition)
		}
		if c.found && strings.EqualFold(c.status, t.conditionStatus) {
			return verdict{ready: true}
		}
		return waiting("%s %s: condition %s is %s, want %s", t.kindName, t.name, t.condition, c, t.conditionStatus)
	case t.jsonPath != nil:
		val, err := t.jsonPath.Select(map[string]any(o))
		if errors.Is(err, jsonpath.ErrMissing) {
			return waiting("%s %s: %s is not set", t.kindName, t.name, t.jsonPath)
		}
		got := jsonpath.Text(val)
		if t.value != nil {
			if got == *t.value {
				return verdict{ready: true}
			}
			return waiting("%s %s: %s is %q, want %q", t.kindName, t.name, t.jsonPath, got, *t.value)
		}
		if val == nil || val == false {
			return waiting("%s %s: %s is %s", t.kindName, t.name, t.jsonPath, got)
		}
	}
	return verdict{ready: true}
}
