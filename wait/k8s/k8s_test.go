package k8s

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/wait/check"
	"github.com/initbox/initbox/wait/check/checktest"
)

const (
	jobsPath   = "/apis/batch/v1/namespaces/ns/jobs"
	podsPath   = "/api/v1/namespaces/ns/pods"
	deployPath = "/apis/apps/v1/namespaces/ns/deployments"
	stsPath    = "/apis/apps/v1/namespaces/ns/statefulsets"
	dsPath     = "/apis/apps/v1/namespaces/ns/daemonsets"
	slicesPath = "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices"
	certsPath  = "/apis/cert-manager.io/v1/namespaces/ns/certificates"
)

// kubeconfig writes a kubeconfig for the test server and returns its path.
func (a *apiServer) kubeconfig(t *testing.T, ns string) string {
	return a.kubeconfigFor(t, ns, a.srv.URL)
}

// kubeconfigFor is a kubeconfig that reaches the server at url (a proxy).
func (a *apiServer) kubeconfigFor(t *testing.T, ns, url string) string {
	ca, _ := os.ReadFile(a.pki.CAFile)
	path := filepath.Join(t.TempDir(), "config")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: test
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: u
  user:
    token: %s
- name: exec-user
  user:
    exec:
      command: aws
contexts:
- name: test
  context: {cluster: c, user: u, namespace: %s}
- name: exec
  context: {cluster: c, user: exec-user}
`, url, base64.StdEncoding.EncodeToString(ca), a.token, ns)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (a *apiServer) checker(t *testing.T, raw string) *checker {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(t.Context(), check.Params{URL: u, Display: raw, Kubeconfig: a.kubeconfig(t, "ns"), Load: true})
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return c.(*checker)
}

// checkQuick checks without giving a watch room to start (the attempt
// deadline is under the watch minimum), so the verdict is the list's.
func checkQuick(c *checker, t *testing.T) error {
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	return c.Check(ctx)
}

func meta(name string, gen int64) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: gen}
}

func ptr[T any](v T) *T { return &v }

type outcome int

const (
	ready outcome = iota
	notReady
	failed
)

func TestObjectStates(t *testing.T) {
	a := newAPIServer(t)
	for _, p := range []string{jobsPath, podsPath, deployPath, stsPath, dsPath, slicesPath} {
		a.collection(p)
	}
	job := func(c ...batchv1.JobCondition) *batchv1.Job {
		return &batchv1.Job{TypeMeta: metav1.TypeMeta{Kind: "Job", APIVersion: "batch/v1"}, ObjectMeta: meta("migrate", 1),
			Status: batchv1.JobStatus{Conditions: c, Active: 1}}
	}
	pod := func(phase corev1.PodPhase, readyStatus corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: meta("web-0", 1), Status: corev1.PodStatus{Phase: phase,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: readyStatus, Reason: "ContainersNotReady"}}}}
	}
	deploy := func(gen, observed int64, replicas, updated, total, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: meta("api", gen), Spec: appsv1.DeploymentSpec{Replicas: ptr(replicas)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total, AvailableReplicas: available, Conditions: conds}}
	}
	sts := func(replicas, readyN, updated int32, cur, upd string, partition *int32) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: meta("db", 2), Spec: appsv1.StatefulSetSpec{Replicas: ptr(replicas)},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: readyN, UpdatedReplicas: updated, CurrentRevision: cur, UpdateRevision: upd}}
		s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	ds := func(desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: meta("agent", 1), Status: appsv1.DaemonSetStatus{ObservedGeneration: 1,
			DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: available}}
	}
	slice := func(name string, readyStates ...*bool) *discoveryv1.EndpointSlice {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"kubernetes.io/service-name": "pg"}},
			AddressType: discoveryv1.AddressTypeIPv4}
		for _, r := range readyStates {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: r}})
		}
		return s
	}
	other := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "other-x", Namespace: "ns", Labels: map[string]string{"kubernetes.io/service-name": "other"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}}}}

	tests := []struct {
		name    string
		target  string
		path    string
		objects []any // stored, in order, before the check
		want    outcome
		msg     string
	}{
		{"job absent", "k8s://job/migrate", jobsPath, nil, notReady, `job "migrate" not found in namespace "ns"`},
		{"job running", "k8s://job/migrate", jobsPath, []any{job()}, notReady, "1 active"},
		{"job complete", "k8s://jobs/migrate", jobsPath, []any{job(batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue})}, ready, ""},
		{"job failed", "k8s://job/migrate", jobsPath, []any{job(batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"})}, failed, "job migrate failed (BackoffLimitExceeded: Job has reached the specified backoff limit); not retried"},
		{"pod pending", "k8s://pod/web-0", podsPath, []any{pod(corev1.PodPending, corev1.ConditionFalse)}, notReady, "phase Pending, Ready False (ContainersNotReady)"},
		{"pod ready", "k8s://po/web-0", podsPath, []any{pod(corev1.PodRunning, corev1.ConditionTrue)}, ready, ""},
		{"pod succeeded", "k8s://pod/web-0", podsPath, []any{pod(corev1.PodSucceeded, corev1.ConditionFalse)}, failed, "will never be Ready"},
		{"pod phase by jsonpath", "k8s://pod/web-0?jsonpath=.status.phase&value=Succeeded", podsPath, []any{pod(corev1.PodSucceeded, corev1.ConditionFalse)}, ready, ""},
		{"deployment stale", "k8s://deployment/api", deployPath, []any{deploy(2, 1, 3, 3, 3, 3)}, notReady, "not seen the latest spec"},
		{"deployment updating", "k8s://deploy/api", deployPath, []any{deploy(2, 2, 3, 1, 4, 3)}, notReady, "1 of 3 replicas updated"},
		{"deployment old replicas", "k8s://deploy/api", deployPath, []any{deploy(2, 2, 3, 3, 4, 3)}, notReady, "1 old replicas pending termination"},
		{"deployment unavailable", "k8s://deploy/api", deployPath, []any{deploy(2, 2, 3, 3, 3, 2)}, notReady, "2 of 3 updated replicas available"},
		{"deployment rolled out", "k8s://deployments.apps/api", deployPath, []any{deploy(2, 2, 3, 3, 3, 3)}, ready, ""},
		{"deployment deadline exceeded", "k8s://deploy/api", deployPath, []any{deploy(2, 2, 3, 1, 3, 1, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "api-5d" has timed out progressing.`})}, failed, "exceeded its progress deadline"},
		{"statefulset not ready", "k8s://sts/db", stsPath, []any{sts(3, 2, 3, "r1", "r1", nil)}, notReady, "2 of 3 pods ready"},
		{"statefulset revision", "k8s://statefulset/db", stsPath, []any{sts(3, 3, 1, "r1", "r2", nil)}, notReady, "at revision r2"},
		{"statefulset partitioned", "k8s://sts/db", stsPath, []any{sts(3, 3, 1, "r1", "r2", ptr(int32(2)))}, ready, ""},
		{"statefulset rolled out", "k8s://sts/db", stsPath, []any{sts(3, 3, 3, "r2", "r2", nil)}, ready, ""},
		{"daemonset updating", "k8s://ds/agent", dsPath, []any{ds(4, 3, 3)}, notReady, "3 of 4 pods updated"},
		{"daemonset rolled out", "k8s://daemonset/agent", dsPath, []any{ds(4, 4, 4)}, ready, ""},
		{"service without slices", "k8s://svc/pg", slicesPath, []any{other}, notReady, "no EndpointSlices"},
		{"service not ready", "k8s://service/pg", slicesPath, []any{slice("pg-a", ptr(false), ptr(false))}, notReady, "0 of 2 endpoints ready"},
		{"service ready", "k8s://services/pg", slicesPath, []any{slice("pg-a", ptr(false)), slice("pg-b", ptr(true))}, ready, ""},
		{"service ready when unset", "k8s://svc/pg", slicesPath, []any{slice("pg-a", nil)}, ready, ""},
		{"condition on a pod", "k8s://pod/web-0?condition=Ready", podsPath, []any{pod(corev1.PodRunning, corev1.ConditionTrue)}, ready, ""},
		{"condition with status", "k8s://pod/web-0?condition=Ready=False", podsPath, []any{pod(corev1.PodRunning, corev1.ConditionTrue)}, notReady, "want False"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.mu.Lock()
			a.objects[tc.path] = map[string][]byte{}
			a.mu.Unlock()
			for _, o := range tc.objects {
				a.set(tc.path, o)
			}
			err := checkQuick(a.checker(t, tc.target), t)
			switch tc.want {
			case ready:
				if err != nil {
					t.Fatalf("Check = %v, want ready", err)
				}
				return
			case notReady:
				if err == nil || !check.IsNotReady(err) {
					t.Fatalf("Check = %v, want NotReady", err)
				}
			case failed:
				if err == nil || check.IsNotReady(err) {
					t.Fatalf("Check = %v, want a permanent failure", err)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

// The checker watches instead of polling: a change during the watch ends
// the check at once, long before its deadline.
func TestWatchReactsAtOnce(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1)})
	c := a.checker(t, "k8s://job/migrate")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Check(ctx) }()
	select {
	case <-a.watching:
	case err := <-done:
		t.Fatalf("Check returned before watching: %v", err)
	}
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	if err := <-done; err != nil {
		t.Fatalf("Check = %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v: the change was not seen through the watch", took)
	}
	if a.count("list "+jobsPath) != 1 || a.count("watch "+jobsPath) != 1 {
		t.Errorf("requests %v: want one list and one watch", a.requests)
	}
}

// A watch that ends with 410 Gone is followed by a new list.
func TestWatchGoneRelists(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1)})
	a.expire = true
	c := a.checker(t, "k8s://job/migrate")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Check(ctx) }()
	<-a.watching // the second watch, after the 410 and a new list
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	if err := <-done; err != nil {
		t.Fatalf("Check = %v", err)
	}
	if n := a.count("list " + jobsPath); n != 2 {
		t.Errorf("%d lists, want 2 (one after the 410)", n)
	}
}

// Without the watch verb the checker falls back to polling, says so once,
// and does not ask to watch again.
func TestWatchForbiddenFallsBackToPolling(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1)})
	a.forbid["watch "+jobsPath] = true
	logs := testlog.Capture(t)
	c := a.checker(t, "k8s://job/migrate")
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := c.Check(ctx)
		cancel()
		if err == nil || !check.IsNotReady(err) || !strings.Contains(err.Error(), "0 succeeded") {
			t.Fatalf("Check = %v, want NotReady with the job's state", err)
		}
	}
	if n := a.count("watch " + jobsPath); n != 1 {
		t.Errorf("%d watch attempts, want 1", n)
	}
	if n := strings.Count(logs.String(), "polling instead"); n != 1 {
		t.Errorf("%d polling notices, want 1:\n%s", n, logs.String())
	}
}

// The most common support question: say which permission is missing.
func TestForbiddenNamesTheRule(t *testing.T) {
	a := newAPIServer(t)
	a.collection(jobsPath)
	a.forbid["list "+jobsPath] = true
	err := checkQuick(a.checker(t, "k8s://job/migrate"), t)
	if err == nil || check.IsNotReady(err) {
		t.Fatalf("Check = %v, want a permanent error", err)
	}
	for _, want := range []string{`HTTP 403`, `cannot list resource "jobs"`, `verbs ["list", "watch"] on jobs.batch in namespace "ns"`,
		`apiGroups: ["batch"], resources: ["jobs"], verbs: ["list", "watch"]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	a := newAPIServer(t)
	a.collection(jobsPath)
	c := a.checker(t, "k8s://job/migrate")
	a.token = "rotated-elsewhere"
	err := checkQuick(c, t)
	if err == nil || check.IsNotReady(err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Check = %v, want a permanent 401", err)
	}
	if strings.Contains(err.Error(), "sa-Token-5e6f7a") {
		t.Error("the token is in the error")
	}
}

// Any resource, found by discovery, with a condition.
func TestCustomResourceCondition(t *testing.T) {
	a := newAPIServer(t)
	target := "k8s://certificates.cert-manager.io/web-tls?condition=Ready"
	// The CRD is not installed yet: retried.
	if err := checkQuick(a.checker(t, target), t); err == nil || !check.IsNotReady(err) || !strings.Contains(err.Error(), "CRD") {
		t.Fatalf("before the CRD: %v", err)
	}
	a.discovery["/apis/cert-manager.io"] = metav1.APIGroup{Name: "cert-manager.io", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "cert-manager.io/v1", Version: "v1"}}
	a.discovery["/apis/cert-manager.io/v1"] = metav1.APIResourceList{GroupVersion: "cert-manager.io/v1", APIResources: []metav1.APIResource{
		{Name: "certificates", SingularName: "certificate", ShortNames: []string{"cert"}, Kind: "Certificate", Namespaced: true},
		{Name: "certificates/status", Kind: "Certificate", Namespaced: true}}}
	a.collection(certsPath)
	cert := func(status string, observed int64) map[string]any {
		return map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
			"metadata": map[string]any{"name": "web-tls", "namespace": "ns", "generation": 2},
			"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status, "observedGeneration": observed}}}}
	}
	c := a.checker(t, target)
	for _, step := range []struct {
		obj   map[string]any
		ready bool
	}{{cert("False", 2), false}, {cert("True", 1), false}, {cert("True", 2), true}} {
		a.set(certsPath, step.obj)
		err := checkQuick(c, t)
		if (err == nil) != step.ready {
			t.Fatalf("status %v: Check = %v, want ready=%v", step.obj["status"], err, step.ready)
		}
	}
	// The short name and the explicit version find it too.
	for _, spec := range []string{"cert.cert-manager.io", "certificates.v1.cert-manager.io"} {
		if err := checkQuick(a.checker(t, "k8s://"+spec+"/web-tls?condition=Ready"), t); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

func TestInCluster(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	dir := t.TempDir()
	ca, _ := os.ReadFile(a.pki.CAFile)
	os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644)
	os.WriteFile(filepath.Join(dir, "token"), []byte(a.token), 0o600)
	os.WriteFile(filepath.Join(dir, "namespace"), []byte("ns"), 0o644)
	u, _ := url.Parse(a.srv.URL)
	oldDir, oldEnv := serviceAccountDir, getenv
	serviceAccountDir = dir
	getenv = func(k string) string {
		return map[string]string{"KUBERNETES_SERVICE_HOST": u.Hostname(), "KUBERNETES_SERVICE_PORT": u.Port()}[k]
	}
	defer func() { serviceAccountDir, getenv = oldDir, oldEnv }()

	target, _ := url.Parse("k8s://job/migrate")
	c, err := New(t.Context(), check.Params{URL: target, Display: "k8s://job/migrate", Load: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkQuick(c.(*checker), t); err != nil {
		t.Fatalf("Check = %v (the namespace must come from the service account)", err)
	}
	// The kubelet rotates the token: it is read again for each request.
	a.token = "rotated-Token-1b2c"
	os.WriteFile(filepath.Join(dir, "token"), []byte(a.token), 0o600)
	if err := checkQuick(c.(*checker), t); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestKubeconfigErrors(t *testing.T) {
	a := newAPIServer(t)
	kc := a.kubeconfig(t, "ns")
	target, _ := url.Parse("k8s://job/migrate")
	for _, tc := range []struct {
		kubeconfig, context, want string
	}{
		{kc, "exec", `exec apiVersion "": initbox runs client.authentication.k8s.io/v1`},
		{kc, "nope", `no context "nope"`},
		{filepath.Join(t.TempDir(), "missing"), "", "reading kubeconfig"},
	} {
		_, err := New(t.Context(), check.Params{URL: target, Display: "x", Kubeconfig: tc.kubeconfig, KubeContext: tc.context, Load: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kubeconfig %s context %q: err = %v, want %q", tc.kubeconfig, tc.context, err, tc.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	checktest.BadURLs(t, New, map[string]string{
		"k8s://job":           "k8s://KIND/NAME",
		"k8s://job/a/b":       "k8s://KIND/NAME",
		"k8s://job/a?value=x": "?value needs ?jsonpath",
		"k8s://job/a?condition=Ready&jsonpath=.a": "give one",
		"k8s://job/a?wait=1":                      `unknown query parameter "wait"`,
		"k8s://job/a?jsonpath=.a[":                "?jsonpath",
		"k8s://user:pw@job/a":                     "not a host",
	})
}

func TestResource(t *testing.T) {
	for kind, want := range map[string][2]string{
		"job": {"batch", "jobs"}, "Deployments.Apps": {"apps", "deployments"}, "po": {"", "pods"},
		"svc": {"discovery.k8s.io", "endpointslices"}, "sts": {"apps", "statefulsets"},
	} {
		g, r, ok := Resource(kind)
		if !ok || g != want[0] || r != want[1] {
			t.Errorf("Resource(%q) = %q, %q, %v; want %q, %q", kind, g, r, ok, want[0], want[1])
		}
	}
	if _, _, ok := Resource("certificates.cert-manager.io"); ok {
		t.Error("a discovered kind is not built in")
	}
}

// Every spelling kubectl accepts for a built-in kind — what `kubectl get
// job,deploy -o name` prints among them — reaches the kind's readiness
// rule: a failed Job or a Deployment past its deadline fails, never
// passes as "it exists".
func TestKubectlNameForms(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{TypeMeta: metav1.TypeMeta{Kind: "Job", APIVersion: "batch/v1"}, ObjectMeta: meta("bad-job", 1),
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}}})
	a.set(deployPath, &appsv1.Deployment{ObjectMeta: meta("x", 1), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1))},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}}})
	a.set(stsPath, &appsv1.StatefulSet{ObjectMeta: meta("db", 2), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3))}, Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 1}})
	a.set(dsPath, &appsv1.DaemonSet{ObjectMeta: meta("agent", 1), Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1}})
	a.set(podsPath, &corev1.Pod{ObjectMeta: meta("web-0", 1), Status: corev1.PodStatus{Phase: corev1.PodSucceeded}})
	for _, tc := range []struct {
		forms  []string
		name   string
		failed bool // a permanent failure; else NotReady
	}{
		{[]string{"job", "jobs", "Job", "job.batch", "jobs.batch", "jobs.v1.batch", "job.v1.batch"}, "bad-job", true},
		{[]string{"deployment", "deploy", "deployment.apps", "deployments.apps", "deploy.apps", "deployments.v1.apps", "Deployment.apps"}, "x", true},
		{[]string{"sts", "statefulset.apps", "statefulsets.apps", "statefulsets.v1.apps"}, "db", false},
		{[]string{"ds", "daemonset.apps", "daemonsets.v1.apps"}, "agent", false},
		{[]string{"po", "pod", "pods.v1"}, "web-0", true},
	} {
		for _, form := range tc.forms {
			err := checkQuick(a.checker(t, "k8s://"+form+"/"+tc.name), t)
			switch {
			case err == nil:
				t.Errorf("%s/%s: ready, want the kind's readiness rule to hold it", form, tc.name)
			case tc.failed && check.IsNotReady(err):
				t.Errorf("%s/%s: %v, want a permanent failure", form, tc.name, err)
			case !tc.failed && !check.IsNotReady(err):
				t.Errorf("%s/%s: %v, want not ready", form, tc.name, err)
			}
		}
	}
	// A group the kind is not in is another kind, found by discovery.
	if _, ok := lookupBuiltin("jobs.example.com"); ok {
		t.Error("jobs.example.com taken for batch's Job")
	}
	if _, ok := lookupBuiltin("deployments.v2.apps"); ok {
		t.Error("deployments.v2.apps taken for apps/v1's Deployment")
	}
}

// A resource named without its group is found in whichever group serves
// it, core first, then the groups in the server's order, as kubectl does.
func TestDiscoveryAcrossGroups(t *testing.T) {
	a := newAPIServer(t)
	a.discovery["/api/v1"] = metav1.APIResourceList{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", SingularName: "configmap", ShortNames: []string{"cm"}, Kind: "ConfigMap", Namespaced: true},
		{Name: "nodes", SingularName: "node", ShortNames: []string{"no"}, Kind: "Node"}}}
	a.collection("/api/v1/nodes")
	a.discovery["/apis"] = metav1.APIGroupList{Groups: []metav1.APIGroup{
		{Name: "apps", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}},
		{Name: "down.example.com", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "down.example.com/v1", Version: "v1"}},
		{Name: "batch", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "batch/v1", Version: "v1"}},
		{Name: "cert-manager.io", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "cert-manager.io/v1", Version: "v1"}},
	}}
	a.discovery["/apis/apps/v1"] = metav1.APIResourceList{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", SingularName: "deployment", ShortNames: []string{"deploy"}, Kind: "Deployment", Namespaced: true}}}
	a.discovery["/apis/batch/v1"] = metav1.APIResourceList{GroupVersion: "batch/v1", APIResources: []metav1.APIResource{
		{Name: "jobs", SingularName: "job", Kind: "Job", Namespaced: true},
		{Name: "cronjobs", SingularName: "cronjob", ShortNames: []string{"cj"}, Kind: "CronJob", Namespaced: true}}}
	a.discovery["/apis/cert-manager.io/v1"] = metav1.APIResourceList{GroupVersion: "cert-manager.io/v1", APIResources: []metav1.APIResource{
		{Name: "certificates", SingularName: "certificate", ShortNames: []string{"cert"}, Kind: "Certificate", Namespaced: true}}}
	const cronPath = "/apis/batch/v1/namespaces/ns/cronjobs"
	a.set(cronPath, map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "nightly", "namespace": "ns"}})
	a.set(certsPath, map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": map[string]any{"name": "web-tls", "namespace": "ns"}})
	for _, spec := range []string{"cronjobs/nightly", "cronjob/nightly", "cj/nightly", "CronJob/nightly", "certificates/web-tls", "cert/web-tls"} {
		if err := checkQuick(a.checker(t, "k8s://"+spec), t); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
	// A cluster-scoped object is not said to be missing from a namespace.
	err := checkQuick(a.checker(t, "k8s://node/worker-1"), t)
	if err == nil || !strings.Contains(err.Error(), `node "worker-1" not found (yet)`) {
		t.Errorf("node: %v", err)
	}
	// An unknown name is retried (a CRD may come), naming what to do.
	err = checkQuick(a.checker(t, "k8s://widgets/w"), t)
	if err == nil || !check.IsNotReady(err) || !strings.Contains(err.Error(), "in any group") {
		t.Errorf("widgets: %v", err)
	}
}

// freezingProxy relays TCP to addr until freeze: from then on the
// connections it holds stay open and carry nothing — an API server lost
// without a FIN — while new connections are relayed again.
type freezingProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen []net.Conn
	live   []net.Conn
	conns  int
}

func newFreezingProxy(t *testing.T, addr string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range append(p.frozen, p.live...) {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns++
			p.live = append(p.live, in, out)
			p.mu.Unlock()
			relay := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						return
					}
					p.mu.Lock()
					frozen := slices.Contains(p.frozen, src)
					p.mu.Unlock()
					if frozen {
						continue // swallowed: the other side never hears of it
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
			}
			go relay(out, in)
			go relay(in, out)
		}
	}()
	return p
}

func (p *freezingProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen, p.live = append(p.frozen, p.live...), nil
}

func (p *freezingProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// A connection that goes silent without a FIN (the API server behind it
// lost) is dropped after an unanswered HTTP/2 ping and replaced, so the
// wait goes on against a server that answers; without per-attempt
// timeouts too.
func TestDeadConnectionIsReplaced(t *testing.T) {
	defer func(d time.Duration) { pingAfter = d }(pingAfter)
	pingAfter = 200 * time.Millisecond
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1),
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	proxy := newFreezingProxy(t, a.srv.Listener.Addr().String())
	u, _ := url.Parse("k8s://job/migrate")
	cc, err := New(t.Context(), check.Params{URL: u, Display: "k8s://job/migrate", Kubeconfig: a.kubeconfigFor(t, "ns", "https://"+proxy.ln.Addr().String()), Load: true})
	if err != nil {
		t.Fatal(err)
	}
	c := cc.(*checker)
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("first check: %v", err)
	}
	if a.lastProto() != "HTTP/2.0" {
		t.Fatalf("the API server spoke %s; the test needs HTTP/2", a.lastProto())
	}
	proxy.freeze()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		err := c.Check(ctx) // no per-attempt timeout: only the overall one
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("still on the dead connection after %v: %v", time.Since(start), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if proxy.connections() < 2 {
		t.Fatalf("ready over %d connection(s), want a new one", proxy.connections())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("replacing the dead connection took %v, want about two pings (%v)", d, 2*pingAfter)
	}
}

// writeKubeconfig writes a kubeconfig for a's server with the given users
// and contexts (YAML list items), and returns its path.
func (a *apiServer) writeKubeconfig(t *testing.T, dir, current, users, contexts string) string {
	ca, _ := os.ReadFile(a.pki.CAFile)
	path := filepath.Join(dir, "config")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\ncurrent-context: %s\nclusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n%scontexts:\n%s",
		current, a.srv.URL, base64.StdEncoding.EncodeToString(ca), users, contexts)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An EKS kubeconfig: the real AWS CLI's `aws eks get-token` (offline: it
// presigns an STS request) is run as the exec plugin, and its token
// reaches the API server.
func TestExecPluginAWS(t *testing.T) {
	testserver.Needs(t, "the AWS CLI")
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("no aws: install awscli (make deps-test)")
	}
	a := newAPIServer(t)
	a.tokenOK = func(tok string) bool { return strings.HasPrefix(tok, "k8s-aws-v1.") }
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1),
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	kc := a.writeKubeconfig(t, t.TempDir(), "eks", `- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, shop, --region, eu-west-1]
      env:
        - {name: AWS_ACCESS_KEY_ID, value: AKIAEXAMPLEEXAMPLE}
        - {name: AWS_SECRET_ACCESS_KEY, value: example-secret-key}
      interactiveMode: Never
`, "- name: eks\n  context: {cluster: c, user: eks-user, namespace: ns}\n")
	u, _ := url.Parse("k8s://job/migrate")
	c, err := New(t.Context(), check.Params{URL: u, Display: "k8s://job/migrate", Kubeconfig: kc, Load: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// A plugin's credential is kept until its expirationTimestamp, asked for
// again after it (and after a 401), and a plugin that fails, is missing or
// answers nonsense is one clear error that shows no secret.
func TestExecPluginCredentials(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1),
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	// The plugin prints the token given in its environment, with an expiry.
	plugin := filepath.Join(dir, "plugin.sh")
	os.WriteFile(plugin, []byte(`#!/bin/sh
echo run >> "$RUNS"
case "$MODE" in
fail) echo "error: the SSO session expired; run: cloud login" >&2; exit 3;;
garbage) echo "not json"; exit 0;;
esac
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 4;; esac
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\n' "$TOKEN" "$EXPIRES"
`), 0o755)
	runs := func() int { b, _ := os.ReadFile(count); return strings.Count(string(b), "run") }
	kcFor := func(mode, expires string) string {
		d := t.TempDir()
		return a.writeKubeconfig(t, d, "p", fmt.Sprintf(`- name: pu
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: %s
      env:
        - {name: RUNS, value: %s}
        - {name: TOKEN, value: %s}
        - {name: MODE, value: %s}
        - {name: EXPIRES, value: "%s"}
`, plugin, count, a.token, mode, expires), "- name: p\n  context: {cluster: c, user: pu, namespace: ns}\n")
	}
	checker := func(kc string) check.Checker {
		u, _ := url.Parse("k8s://job/migrate")
		c, err := New(t.Context(), check.Params{URL: u, Display: "k8s://job/migrate", Kubeconfig: kc, Load: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Valid for an hour: run once for three checks.
	c := checker(kcFor("ok", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	for range 3 {
		if err := c.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := runs(); n != 1 {
		t.Errorf("plugin ran %d times for three checks within its expiry, want 1", n)
	}
	// Expired already: run for every check.
	os.Remove(count)
	c = checker(kcFor("ok", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)))
	for range 2 {
		if err := c.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := runs(); n != 2 {
		t.Errorf("plugin ran %d times for two checks past its expiry, want 2", n)
	}
	// A 401: asked again once, then a permanent error.
	os.Remove(count)
	kc401 := kcFor("ok", "")
	a.mu.Lock()
	good := a.token
	a.token = "rotated-away"
	a.mu.Unlock()
	err := checker(kc401).Check(t.Context())
	a.mu.Lock()
	a.token = good
	a.mu.Unlock()
	if err == nil || check.IsNotReady(err) || !strings.Contains(err.Error(), "401") {
		t.Errorf("401: %v, want a permanent error", err)
	}
	if n := runs(); n != 2 {
		t.Errorf("plugin ran %d times around a 401, want 2 (asked again once)", n)
	}
	for _, tc := range []struct{ kc, want string }{
		{kcFor("fail", ""), "exec credential plugin plugin.sh failed (exit status 3): error: the SSO session expired; run: cloud login"},
		{kcFor("garbage", ""), "wrote no ExecCredential"},
		{a.writeKubeconfig(t, t.TempDir(), "p", "- name: pu\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: initbox-no-such-plugin\n      installHint: brew install no-such-plugin\n", "- name: p\n  context: {cluster: c, user: pu}\n"), "not found: brew install no-such-plugin"},
	} {
		err := checker(tc.kc).Check(t.Context())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), a.token) {
			t.Errorf("the token leaked: %v", err)
		}
	}
}

// $KUBECONFIG's files merge as kubectl merges them: the first file to
// name a context, cluster or user wins, and the first current-context.
func TestKubeconfigMerge(t *testing.T) {
	a := newAPIServer(t)
	a.set(jobsPath, &batchv1.Job{ObjectMeta: meta("migrate", 1),
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	// The first file: the current context and a user, no cluster named c;
	// the second: cluster c, a wrong user of the same name (ignored), and
	// its own current-context (ignored).
	first := filepath.Join(t.TempDir(), "first")
	os.WriteFile(first, []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\ncurrent-context: merged\nusers:\n- name: u\n  user: {token: %s}\ncontexts:\n- name: merged\n  context: {cluster: c, user: u, namespace: ns}\n", a.token)), 0o600)
	second := a.writeKubeconfig(t, t.TempDir(), "other", "- name: u\n  user: {token: wrong-token}\n", "- name: other\n  context: {cluster: c, user: u, namespace: elsewhere}\n")
	defer func(old func(string) string) { getenv = old }(getenv)
	getenv = func(k string) string {
		if k == "KUBECONFIG" {
			return first + string(filepath.ListSeparator) + filepath.Join(t.TempDir(), "absent") + string(filepath.ListSeparator) + second
		}
		return ""
	}
	u, _ := url.Parse("k8s://job/migrate")
	c, err := New(t.Context(), check.Params{URL: u, Display: "k8s://job/migrate", Load: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("Check through the merged kubeconfig: %v", err)
	}
}
