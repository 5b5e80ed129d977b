package k8s

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/wait/check"
)

// The waits against a real kube-apiserver (and etcd), built from their
// modules: what the in-process server imitates, the real one decides.
func TestRealAPIServer(t *testing.T) {
	k := testserver.StartKube(t)
	k.Namespace("apps")
	kc := k.Kubeconfig(k.AdminToken, "apps", "")
	newChecker := func(t *testing.T, kubeconfig, target string) *checker {
		t.Helper()
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(t.Context(), check.Params{URL: u, Display: target, Kubeconfig: kubeconfig, Load: true})
		if err != nil {
			t.Fatalf("New(%s): %v", target, err)
		}
		return c.(*checker)
	}
	checkWithin := func(c *checker, d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return c.Check(ctx)
	}
	podTemplate := map[string]any{"spec": map[string]any{"restartPolicy": "Never", "containers": []any{
		map[string]any{"name": "c", "image": "initbox:dev"}}}}
	job := func(name string) {
		k.Create("/apis/batch/v1/namespaces/apps/jobs", map[string]any{"apiVersion": "batch/v1", "kind": "Job",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"template": podTemplate}})
	}
	now := time.Now().UTC().Format(time.RFC3339)
	failJob := func(name string) {
		k.SetStatus("/apis/batch/v1/namespaces/apps/jobs/"+name, map[string]any{"startTime": now, "failed": 1, "conditions": []any{
			map[string]any{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": now},
			map[string]any{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": now}}})
	}
	completeJob := func(name string) {
		k.SetStatus("/apis/batch/v1/namespaces/apps/jobs/"+name, map[string]any{"startTime": now, "completionTime": now, "succeeded": 1, "conditions": []any{
			map[string]any{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "Complete", "status": "True", "lastTransitionTime": now}}})
	}

	t.Run("kubectl name forms reach the readiness rules", func(t *testing.T) {
		job("bad-job")
		failJob("bad-job")
		k.Create("/apis/apps/v1/namespaces/apps/deployments", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "x"}, "spec": map[string]any{"replicas": 1, "progressDeadlineSeconds": 60,
				"selector": map[string]any{"matchLabels": map[string]string{"app": "x"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "x"}}, "spec": map[string]any{"containers": []any{
					map[string]any{"name": "c", "image": "initbox:dev"}}}}}})
		k.SetStatus("/apis/apps/v1/namespaces/apps/deployments/x", map[string]any{"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
			"conditions": []any{map[string]any{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
				"message": `ReplicaSet "x-5d" has timed out progressing.`, "lastUpdateTime": now, "lastTransitionTime": now}}})
		for _, target := range []string{"k8s://job/bad-job", "k8s://job.batch/bad-job", "k8s://jobs.batch/bad-job", "k8s://jobs.v1.batch/bad-job",
			"k8s://deployment/x", "k8s://deployment.apps/x", "k8s://deploy.apps/x", "k8s://deployments.v1.apps/x"} {
			err := checkWithin(newChecker(t, kc, target), 10*time.Second)
			if err == nil || check.IsNotReady(err) {
				t.Errorf("%s: %v, want a permanent failure", target, err)
			}
		}
	})

	t.Run("discovery across groups", func(t *testing.T) {
		k.Create("/apis/batch/v1/namespaces/apps/cronjobs", map[string]any{"apiVersion": "batch/v1", "kind": "CronJob",
			"metadata": map[string]any{"name": "nightly"}, "spec": map[string]any{"schedule": "0 3 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": podTemplate}}}})
		k.Create("/apis/coordination.k8s.io/v1/namespaces/apps/leases", map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": "leader"}, "spec": map[string]any{"holderIdentity": "a"}})
		k.Create("/apis/networking.k8s.io/v1/namespaces/apps/ingresses", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
			"metadata": map[string]any{"name": "web"}, "spec": map[string]any{"defaultBackend": map[string]any{"service": map[string]any{"name": "web", "port": map[string]any{"number": 80}}}}})
		for _, target := range []string{"k8s://cronjobs/nightly", "k8s://cj/nightly", "k8s://cronjob.batch/nightly", "k8s://leases/leader",
			"k8s://ingresses/web", "k8s://ing/web", "k8s://ingress.networking.k8s.io/web", "k8s://namespace/apps", "k8s://ns/apps",
			"k8s://clusterroles/admin", "k8s://lease/leader?jsonpath=.spec.holderIdentity&value=a"} {
			if err := checkWithin(newChecker(t, kc, target), 10*time.Second); err != nil {
				t.Errorf("%s: %v", target, err)
			}
		}
		err := checkWithin(newChecker(t, kc, "k8s://node/worker-1"), 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), `node "worker-1" not found (yet)`) {
			t.Errorf("a missing Node: %v", err)
		}
	})

	t.Run("RBAC and credentials", func(t *testing.T) {
		err := checkWithin(newChecker(t, k.Kubeconfig(k.LimitedToken, "apps", ""), "k8s://job/bad-job"), 10*time.Second)
		if err == nil || check.IsNotReady(err) || !strings.Contains(err.Error(), `verbs ["list", "watch"] on jobs.batch in namespace "apps"`) {
			t.Errorf("a user without rights: %v", err)
		}
		err = checkWithin(newChecker(t, k.Kubeconfig("no-such-token", "apps", ""), "k8s://job/bad-job"), 10*time.Second)
		if err == nil || check.IsNotReady(err) || !strings.Contains(err.Error(), "401") {
			t.Errorf("a bad token: %v", err)
		}
		if strings.Contains(err.Error(), "no-such-token") {
			t.Errorf("the token leaked: %v", err)
		}
	})

	t.Run("an object that completes later is seen by the watch", func(t *testing.T) {
		job("late")
		c := newChecker(t, kc, "k8s://job/late")
		done := make(chan error, 1)
		go func() { done <- checkWithin(c, 30*time.Second) }()
		time.Sleep(time.Second)
		completeJob("late")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the watch did not see the Job complete")
		}
	})

	t.Run("an API server restart", func(t *testing.T) {
		job("across-restart")
		c := newChecker(t, kc, "k8s://job/across-restart")
		if err := checkWithin(c, 2*time.Second); err == nil || !check.IsNotReady(err) {
			t.Fatalf("before: %v, want not ready", err)
		}
		k.StopAPIServer()
		if err := checkWithin(c, 2*time.Second); err == nil || !check.IsNotReady(err) {
			t.Fatalf("while it is down: %v, want not ready (retried)", err)
		}
		k.StartAPIServer()
		completeJob("across-restart")
		if err := checkWithin(c, 10*time.Second); err != nil {
			t.Fatalf("after: %v", err)
		}
	})

	t.Run("a dead connection is replaced", func(t *testing.T) {
		defer func(d time.Duration) { pingAfter = d }(pingAfter)
		pingAfter = 300 * time.Millisecond
		job("behind-proxy")
		completeJob("behind-proxy")
		proxy := newFreezingProxy(t, k.Addr())
		c := newChecker(t, k.Kubeconfig(k.AdminToken, "apps", "https://"+proxy.ln.Addr().String()), "k8s://job/behind-proxy")
		if err := checkWithin(c, 10*time.Second); err != nil {
			t.Fatalf("first: %v", err)
		}
		proxy.freeze()
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := checkWithin(c, 20*time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still on the dead connection: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if proxy.connections() < 2 {
			t.Errorf("ready over %d connection(s), want a new one", proxy.connections())
		}
	})
}
