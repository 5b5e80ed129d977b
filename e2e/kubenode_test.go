//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/testserver"
)

// pauseImage is the sandbox image of the node: testbin's pause, built
// from the local testbin image (nothing is pulled).
func pauseImage(t *testing.T) string { return pauseImageB(t) }

func pauseImageB(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("docker", "build", "-q", "-t", "initbox-pause:dev", "-")
	cmd.Stdin = strings.NewReader("FROM " + images.testbin + "\nCMD [\"pause\"]\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build initbox-pause: %v\n%s", err, out)
	}
	return "initbox-pause:dev"
}

func TestRealNodeRunsAPod(t *testing.T) {
	k := testserver.StartKube(t)
	n := k.StartNode(t)
	n.Import(pauseImage(t), images.busybox, images.initbox)
	k.Namespace("apps")
	k.Create("/api/v1/namespaces/apps/pods", map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "hello"},
		"spec": map[string]any{"restartPolicy": "Never", "securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
			"initContainers": []any{map[string]any{"name": "wait", "image": images.initbox, "imagePullPolicy": "Never", "args": []string{"version"},
				"securityContext": map[string]any{"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []string{"ALL"}}}}},
			"containers": []any{map[string]any{"name": "app", "image": images.busybox, "imagePullPolicy": "Never", "command": []string{"sh", "-c", "echo hello from the node"},
				"securityContext": map[string]any{"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []string{"ALL"}}}}}}})
	deadline := time.Now().Add(90 * time.Second)
	for {
		b := k.Do("GET", "/api/v1/namespaces/apps/pods/hello", nil)
		if strings.Contains(string(b), `"phase":"Succeeded"`) {
			break
		}
		if strings.Contains(string(b), `"phase":"Failed"`) || time.Now().After(deadline) {
			t.Fatalf("pod: %s\n%s", b, n.Logs())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// node is one control plane and node for the tests that need a kubelet,
// with this run's images imported.
func startNode(t *testing.T) (*testserver.Kube, *testserver.KubeNode) {
	t.Helper()
	k := testserver.StartKube(t)
	n := k.StartNode(t)
	n.Import(pauseImage(t), images.busybox, images.initbox, images.testbin)
	return k, n
}

// waitPhase waits until the pod's phase is one of phases and returns its
// status as the API server gives it.
func waitPhase(t testing.TB, k *testserver.Kube, n *testserver.KubeNode, ns, name string, phases ...string) corev1.PodStatus {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		var p corev1.Pod
		if err := json.Unmarshal(k.Do("GET", "/api/v1/namespaces/"+ns+"/pods/"+name, nil), &p); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(phases, string(p.Status.Phase)) {
			return p.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s still %s after 120 s: %+v\n%s", ns, name, p.Status.Phase, p.Status, n.Logs())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// onNode maps a manifest's images to this run's, imported into the node.
func onNode(spec *corev1.PodSpec) {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			switch cs[i].Image {
			case "initbox:dev":
				cs[i].Image = images.initbox
			case "busybox":
				cs[i].Image = images.busybox
			}
			cs[i].ImagePullPolicy = corev1.PullNever
		}
	}
}

// examples/kubernetes/pod.yaml on a real kubelet: its four init containers
// (wait, fetch from S3, render, seed) run in order in the restricted Pod
// Security profile, enforced by the real admission plugin, against a MinIO
// on the node's address, and the app prints what they prepared.
func TestPodExampleOnRealNode(t *testing.T) {
	k, n := startNode(t)
	s3Fixture(t, n)
	shopNamespace(k)
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/kubernetes/pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	for _, m := range decodeManifests(t, "pod.yaml", b) {
		if p, ok := m.obj.(*corev1.Pod); ok {
			pod = p
		}
	}
	if pod == nil {
		t.Fatal("no Pod in examples/kubernetes/pod.yaml")
	}
	onNode(&pod.Spec)
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	// The example names the S3 endpoint minio: here it is the node's address.
	pod.Spec.HostAliases = []corev1.HostAlias{{IP: n.Gateway, Hostnames: []string{"minio"}}}
	k.Create("/api/v1/namespaces/shop/pods", pod)
	st := waitPhase(t, k, n, "shop", pod.Name, "Succeeded", "Failed")
	if st.Phase != corev1.PodSucceeded {
		t.Fatalf("pod %s: %+v\n%s", st.Phase, st, n.Logs())
	}
	for i, c := range st.InitContainerStatuses {
		if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 || c.Name != pod.Spec.InitContainers[i].Name {
			t.Errorf("init container %d: %+v", i, c)
		}
	}
	logsContain(t, "the app's output", n.ContainerLog("shop", pod.Name, "app"), "database: pg.prod", "region: eu-west-1", "cat\ndog")
}

// A failing init container on a real kubelet: the pod fails, the app never
// starts, and the container's termination message (what kubectl describe
// shows) is initbox's one-line error, without the secret.
func TestFailingInitContainerOnRealNode(t *testing.T) {
	k, n := startNode(t)
	k.Namespace("apps")
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false), ReadOnlyRootFilesystem: ptrTo(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "broken"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo(int64(65532)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			InitContainers:  []corev1.Container{{Name: "wait", Image: "initbox:dev", Args: []string{"wait", "tcp://" + n.Gateway + ":1", "--timeout", "2s"}, SecurityContext: restricted}},
			Containers:      []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sh", "-c", "echo started"}, SecurityContext: restricted}}}}
	onNode(&pod.Spec)
	k.Create("/api/v1/namespaces/apps/pods", pod)
	st := waitPhase(t, k, n, "apps", "broken", "Failed", "Succeeded")
	if st.Phase != corev1.PodFailed {
		t.Fatalf("pod %s, want Failed", st.Phase)
	}
	init := st.InitContainerStatuses[0].State.Terminated
	if init == nil || init.ExitCode != 124 || !strings.Contains(init.Message, "not ready: tcp://"+n.Gateway+":1") {
		t.Errorf("the init container's termination: %+v, want exit 124 and the message", init)
	}
	if app := st.ContainerStatuses[0]; app.State.Running != nil || app.State.Terminated != nil {
		t.Errorf("the app ran: %+v", app.State)
	}
	if log := n.ContainerLog("apps", "broken", "app"); log != "" {
		t.Errorf("the app printed %q", log)
	}
}

func ptrTo[T any](v T) *T { return &v }

// s3Fixture is a MinIO on the node's address holding what the examples
// fetch: the app's values and template, and a models archive.
func s3Fixture(t *testing.T, n *testserver.KubeNode) string {
	t.Helper()
	minio := testserver.StartMinIO(t, testserver.MinIOOptions{Addr: n.Gateway + ":9000"})
	testbin := filepath.Join(repoRoot, "build", "testbin", "rootfs", "testbin")
	creds := []string{"AWS_ACCESS_KEY_ID=" + testserver.MinIOUser, "AWS_SECRET_ACCESS_KEY=" + testserver.MinIOPassword, "AWS_REGION=us-east-1"}
	for _, args := range [][]string{
		{"s3put", "-endpoint", minio.Endpoint, "config", "app/values.yaml=db: {host: pg.prod}\n", "app/templates/app.yaml.tmpl=database: {{ .Values.db.host }}\nregion: {{ .Env.APP_REGION }}\n"},
		{"s3put", "-endpoint", minio.Endpoint, "-tgz", "models.tar.gz", "config", "labels.txt=cat\ndog\n"},
	} {
		cmd := exec.Command(testbin, args...)
		cmd.Env = append(os.Environ(), creds...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testbin %v: %v\n%s", args, err, out)
		}
	}
	return minio.Endpoint
}

// shopNamespace is the examples' namespace (restricted) with their
// s3-credentials Secret.
func shopNamespace(k *testserver.Kube) {
	k.Namespace("shop")
	k.Create("/api/v1/namespaces/shop/secrets", map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s3-credentials"},
		"stringData": map[string]string{"AWS_ACCESS_KEY_ID": testserver.MinIOUser, "AWS_SECRET_ACCESS_KEY": testserver.MinIOPassword}})
}

// rolledOut waits for a Deployment with initbox itself (k8s://deployment,
// against the real API server), then fetches /app.yaml from one of its
// pods, which serve their rendered /config.
func rolledOut(t *testing.T, k *testserver.Kube, n *testserver.KubeNode, ns, deployment, selector string) string {
	t.Helper()
	cmd := exec.Command(binaryPath(), "wait", "k8s://deployment/"+deployment, "--kubeconfig", k.Kubeconfig(k.AdminToken, ns, ""), "--timeout", "180s")
	if out, err := cmd.CombinedOutput(); err != nil {
		var pods corev1.PodList
		json.Unmarshal(k.Do("GET", "/api/v1/namespaces/"+ns+"/pods?labelSelector="+url.QueryEscape(selector), nil), &pods)
		var why strings.Builder
		for _, p := range pods.Items {
			for _, c := range p.Status.InitContainerStatuses {
				fmt.Fprintf(&why, "%s/%s: %+v\n%s\n", p.Name, c.Name, c.State, n.ContainerLog(ns, p.Name, c.Name))
			}
		}
		t.Fatalf("initbox wait k8s://deployment/%s: %v\n%s\n%s", deployment, err, tailOf(string(out), 2000), why.String())
	}
	var pods corev1.PodList
	if err := json.Unmarshal(k.Do("GET", "/api/v1/namespaces/"+ns+"/pods?labelSelector="+url.QueryEscape(selector), nil), &pods); err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of %s: %v %+v", deployment, err, pods)
	}
	ip := pods.Items[0].Status.PodIP
	resp, err := http.Get("http://" + ip + ":8080/app.yaml")
	if err != nil {
		t.Fatalf("the app at %s: %v", ip, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The Helm demo chart on a real node: `helm install --wait` succeeds (the
// init steps ran, the app is available) and the app serves the config the
// steps rendered.
func TestHelmChartOnRealNode(t *testing.T) {
	k, n := startNode(t)
	endpoint := s3Fixture(t, n)
	shopNamespace(k)
	cmd := exec.Command(helmBin(t), "install", "demo", filepath.Join(repoRoot, "examples/helm/shop"), "--namespace", "shop", "--wait", "--timeout", "3m",
		"--kubeconfig", k.Kubeconfig(k.AdminToken, "shop", ""), "--set", "initbox.image="+images.initbox, "--set", "app.image="+images.busybox,
		"--set", "s3.endpoint="+endpoint)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm install --wait: %v\n%s\n%s", err, out, n.Logs())
	}
	logsContain(t, "the app's /app.yaml", rolledOut(t, k, n, "shop", "demo-shop", "app.kubernetes.io/instance=demo"), "database: pg.prod", "region: eu-west-1")
}

// The kustomize overlay on a real node: the rendered Deployment (its S3
// endpoint pointed at the node's MinIO) rolls out and its app serves the
// rendered config.
func TestKustomizeOverlayOnRealNode(t *testing.T) {
	k, n := startNode(t)
	endpoint := s3Fixture(t, n)
	shopNamespace(k)
	out := strings.ReplaceAll(string(kustomize(t, filepath.Join(repoRoot, "examples/kustomize/shop"))), "http://minio:9000", endpoint)
	for _, m := range decodeManifests(t, "kustomize examples/kustomize/shop", []byte(out)) {
		d, ok := m.obj.(*appsv1.Deployment)
		if !ok {
			t.Fatalf("the overlay makes a %s; the test posts Deployments only", m.kind)
		}
		onNode(&d.Spec.Template.Spec)
		k.Create("/apis/apps/v1/namespaces/shop/deployments", d)
	}
	logsContain(t, "the app's /app.yaml", rolledOut(t, k, n, "shop", "shop", "app.kubernetes.io/name=shop"), "database: pg.prod", "region: eu-west-1")
}

// apply posts decoded manifests to their collections in ns (the kinds the
// examples hold).
func apply(t *testing.T, k *testserver.Kube, ns string, ms []manifest) {
	t.Helper()
	paths := map[string]string{
		"ServiceAccount":     "/api/v1/namespaces/" + ns + "/serviceaccounts",
		"Role":               "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/roles",
		"RoleBinding":        "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings",
		"ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
		"Deployment":         "/apis/apps/v1/namespaces/" + ns + "/deployments",
	}
	for _, m := range ms {
		p, ok := paths[m.kind]
		if !ok {
			t.Fatalf("%s: apply knows no %s", m.source, m.kind)
		}
		if m.kind == "ServiceAccount" && m.obj.(*corev1.ServiceAccount).Namespace != "" {
			p = "/api/v1/namespaces/" + m.obj.(*corev1.ServiceAccount).Namespace + "/serviceaccounts"
		}
		k.Create(p, m.obj)
	}
}

func readManifests(t *testing.T, name string) []manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	return decodeManifests(t, name, b)
}

// examples/kubernetes/deployment.yaml on a real node, with rbac.yaml and
// vault-auth.yaml: its pods wait for a PostgreSQL, a migration Job and a
// Service's ready endpoints (with the RBAC of rbac.yaml, nothing more),
// fetch the database credentials from Vault with Kubernetes auth (a
// projected token, audience vault, reviewed by the real TokenReview API),
// render the config and seed the site from git over HTTPS with a token.
// The servers listen on the node's address, under the example's names.
func TestDeploymentExampleOnRealNode(t *testing.T) {
	k, n := startNode(t)
	gw := n.Gateway
	nodePostgres(t, n, "shop", "shop-Readiness-1")
	vaultCA, _ := nodeVault(t, k, n, map[string]string{"secret/shop/db": "username=shop-app password=db-Secret-77"}, vaultRole{"shop", "shop", "shop"})
	const gitToken = "git-Token-4d2a"
	gitCA := nodeGit(t, n, "git.example.com", "shop/site.git", "v1.4.0", gitToken)

	// The cluster side: the namespace, what the example's volumes name, the
	// Job and the Service it waits for, and rbac.yaml.
	k.Namespace("shop")
	for path, obj := range map[string]map[string]any{
		"/api/v1/namespaces/shop/secrets/shop-db-readiness": {"kind": "Secret", "stringData": map[string]string{"password": "shop-Readiness-1"}},
		"/api/v1/namespaces/shop/secrets/shop-git":          {"kind": "Secret", "stringData": map[string]string{"token": gitToken}},
		"/api/v1/namespaces/shop/configmaps/vault-ca":       {"kind": "ConfigMap", "data": map[string]string{"ca.crt": string(vaultCA)}},
		"/api/v1/namespaces/shop/configmaps/git-ca":         {"kind": "ConfigMap", "data": map[string]string{"ca.crt": string(gitCA)}},
		"/api/v1/namespaces/shop/configmaps/shop-templates": {"kind": "ConfigMap", "data": map[string]string{"app.yaml.tmpl": "user: {{ .Data.db.username }}\npassword-length: {{ len .Data.db.password }}\nregion: {{ .Env.SHOP_REGION }}\n"}},
	} {
		dir, name := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
		obj["apiVersion"], obj["metadata"] = "v1", map[string]any{"name": name}
		k.Create(dir, obj)
	}
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false), ReadOnlyRootFilesystem: ptrTo(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	podSec := &corev1.PodSecurityContext{RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo(int64(65532)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	k.Create("/apis/batch/v1/namespaces/shop/jobs", &batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, ObjectMeta: metav1.ObjectMeta{Name: "shop-migrate"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, SecurityContext: podSec,
			Containers: []corev1.Container{{Name: "migrate", Image: images.busybox, ImagePullPolicy: corev1.PullNever, Command: []string{"sh", "-c", "echo migrated"}, SecurityContext: restricted}}}}}})
	search := map[string]string{"app": "search"}
	k.Create("/apis/apps/v1/namespaces/shop/deployments", &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Name: "search"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: search}, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: search},
			Spec: corev1.PodSpec{SecurityContext: podSec, Containers: []corev1.Container{{Name: "search", Image: images.busybox, ImagePullPolicy: corev1.PullNever,
				Command: []string{"httpd", "-f", "-p", "8080"}, SecurityContext: restricted}}}}}})
	k.Create("/api/v1/namespaces/shop/services", &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: "search"},
		Spec: corev1.ServiceSpec{Selector: search, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
	apply(t, k, "shop", readManifests(t, "rbac.yaml"))

	// The example itself: this run's images, the example's host names on
	// the node's address, the test CA for git, an app that serves /config.
	var dep *appsv1.Deployment
	for _, m := range readManifests(t, "deployment.yaml") {
		if d, ok := m.obj.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	spec := &dep.Spec.Template.Spec
	onNode(spec)
	app := &spec.Containers[0]
	app.Image, app.Args, app.Command = images.busybox, nil, []string{"httpd", "-f", "-p", "8080", "-h", "/config"}
	spec.HostAliases = []corev1.HostAlias{{IP: gw, Hostnames: []string{"postgres", "vault.vault.svc", "git.example.com"}}}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "git-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "git-ca"}}}})
	for i := range spec.InitContainers {
		if c := &spec.InitContainers[i]; c.Name == "seed" {
			c.Env = append(c.Env, corev1.EnvVar{Name: "SSL_CERT_FILE", Value: "/git-ca/ca.crt"})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "git-ca", MountPath: "/git-ca", ReadOnly: true})
		}
	}
	k.Create("/apis/apps/v1/namespaces/shop/deployments", dep)
	got := rolledOut(t, k, n, "shop", dep.Name, "app=shop")
	logsContain(t, "the app's /app.yaml", got, "user: shop-app", "password-length: 12", "region: eu-west-1")
	if strings.Contains(got, "db-Secret-77") {
		t.Error("the password reached the rendered file the test template keeps it out of")
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// BenchmarkRunVsContainersRealNode: BenchmarkRunVsContainers on a real
// kubelet — four init containers against one `initbox run` of the same
// plan, from the pod's creation to Succeeded (median of 3 each).
func BenchmarkRunVsContainersRealNode(b *testing.B) {
	k := testserver.StartKube(b)
	n := k.StartNode(b)
	n.Import(pauseImageB(b), images.busybox, images.initbox)
	k.Namespace("bench")
	script := runVsContainersPrep
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false), ReadOnlyRootFilesystem: ptrTo(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	work := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	c := func(name, image string, cmd []string, args ...string) corev1.Container {
		return corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullNever, Command: cmd, Args: args, VolumeMounts: work,
			Env: []corev1.EnvVar{{Name: "APP_REGION", Value: "eu-west-1"}}, SecurityContext: restricted}
	}
	prep := c("prep", images.busybox, []string{"sh", "-c", script})
	pods := map[string][]corev1.Container{
		"4-containers": {prep, c("wait", images.initbox, nil, "wait", "file:///work/ready"),
			c("render", images.initbox, nil, "render", "/work/tpl/", "--out", "/work/out/", "--env-prefix", "APP_"),
			c("seed", images.initbox, nil, "seed", "/work/seed", "/work/site"), c("wait2", images.initbox, nil, "wait", "file:///work/out/a.conf")},
		"1-run": {prep, c("run", images.initbox, nil, "run", "/work/plan.yaml")},
	}
	med := map[string]time.Duration{}
	i := 0
	for b.Loop() {
		for name, init := range pods {
			var took []time.Duration
			for range 3 {
				i++
				pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)},
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, InitContainers: init,
						SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo(int64(65532)), FSGroup: ptrTo(int64(65532)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
						Volumes:         []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
						Containers:      []corev1.Container{c("main", images.busybox, []string{"sh", "-c", "cat /work/out/a.conf /work/site/index.html"})}}}
				start := time.Now()
				k.Create("/api/v1/namespaces/bench/pods", pod)
				if st := waitPhase(b, k, n, "bench", pod.Name, "Succeeded", "Failed"); st.Phase != corev1.PodSucceeded {
					b.Fatalf("%s: %+v", name, st)
				}
				took = append(took, time.Since(start))
				if m := n.ContainerLog("bench", pod.Name, "main"); !strings.Contains(m, "region=eu-west-1") || !strings.Contains(m, "hi") {
					b.Fatalf("%s: main saw %q", name, m)
				}
			}
			med[name] = median(took)
		}
	}
	b.ReportMetric(ms(med["4-containers"]), "4-containers-pod-ms")
	b.ReportMetric(ms(med["1-run"]), "1-run-pod-ms")
	b.ReportMetric(ms(med["4-containers"]-med["1-run"]), "saved-ms")
}

// nodePostgres is a PostgreSQL on the node's address, port 5432, with a
// login role and a database of the same name.
func nodePostgres(t *testing.T, n *testserver.KubeNode, name, password string) *testserver.Postgres {
	t.Helper()
	pg := testserver.StartPostgres(t, testserver.PostgresOptions{Listen: n.Gateway, Port: 5432})
	pg.SQL("CREATE ROLE " + name + " LOGIN PASSWORD '" + password + "'")
	pg.SQL("CREATE DATABASE " + name + " OWNER " + name)
	return pg
}

// vaultRole binds a Vault role to a service account's namespace and name,
// reading secret/data/*, database/creds/* and issuing from pki/issue/*.
type vaultRole struct{ role, namespace, serviceAccount string }

// nodeVault is a Vault (TLS, for vault.vault.svc) on the node's address,
// port 8200, holding secrets (KV path → "k=v k=v"), with Kubernetes auth
// reviewing tokens with the real API server (vault-auth.yaml applied in
// namespace vault); it returns its CA and the server.
func nodeVault(t *testing.T, k *testserver.Kube, n *testserver.KubeNode, secrets map[string]string, roles ...vaultRole) ([]byte, *testserver.Vault) {
	t.Helper()
	k.Namespace("vault")
	apply(t, k, "vault", readManifests(t, "vault-auth.yaml"))
	v := testserver.StartVault(t, testserver.VaultOptions{TLS: true, Addr: n.Gateway + ":8200", TLSNames: []string{"vault.vault.svc", n.Gateway}})
	reviewer := k.ServiceAccountToken("vault", "vault", "https://kubernetes.default.svc")
	ca, _ := os.ReadFile(k.CAFile)
	cmds := [][]string{{"auth", "enable", "kubernetes"},
		{"write", "auth/kubernetes/config", "kubernetes_host=" + k.URL, "kubernetes_ca_cert=" + string(ca), "token_reviewer_jwt=" + reviewer, "disable_local_ca_jwt=true"}}
	for path, kv := range secrets {
		cmds = append(cmds, append([]string{"kv", "put", path}, strings.Fields(kv)...))
	}
	for _, r := range roles {
		cmds = append(cmds, []string{"policy", "write", r.role + "-read", "-"},
			[]string{"write", "auth/kubernetes/role/" + r.role, "bound_service_account_names=" + r.serviceAccount, "bound_service_account_namespaces=" + r.namespace,
				"audience=vault", "token_policies=" + r.role + "-read", "token_ttl=10m"})
	}
	for _, args := range cmds {
		cmd := exec.Command(testserver.VaultBinary(t), args...)
		cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.RootToken, "VAULT_CACERT="+v.CAFile)
		cmd.Stdin = strings.NewReader(`path "secret/data/*" { capabilities = ["read"] }
path "database/creds/*" { capabilities = ["read"] }
path "pki/issue/*" { capabilities = ["update"] }`)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vault %v: %v\n%s", args[:2], err, out)
		}
	}
	vaultCA, _ := os.ReadFile(v.CAFile)
	return vaultCA, v
}

// nodeGit serves a repository over HTTPS on the node's address, port 443,
// as host/path (a certificate for host from a test CA), a token required;
// its one commit, tagged tag, holds public/index.html. It returns the CA.
func nodeGit(t *testing.T, n *testserver.KubeNode, host, path, tag, token string) []byte {
	t.Helper()
	gitRoot := t.TempDir()
	work := filepath.Join(t.TempDir(), "site")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@x"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "--bare", filepath.Join(gitRoot, path))
	run("init", "-q", work)
	os.MkdirAll(filepath.Join(work, "public"), 0o755)
	os.WriteFile(filepath.Join(work, "public/index.html"), []byte("<h1>"+tag+"</h1>\n"), 0o644)
	run("-C", work, "add", ".")
	run("-C", work, "commit", "-q", "-m", "site")
	run("-C", work, "tag", tag)
	run("-C", work, "push", "-q", filepath.Join(gitRoot, path), "HEAD:refs/heads/main", tag)
	pki := testpki.New(t, host)
	backend, _ := exec.Command("git", "--exec-path").Output()
	h := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"), Env: []string{"GIT_PROJECT_ROOT=" + gitRoot, "GIT_HTTP_EXPORT_ALL=1"}}
	ln, err := net.Listen("tcp", n.Gateway+":443")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}), TLSConfig: pki.ServerTLS(false)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	ca, _ := os.ReadFile(pki.CAFile)
	return ca
}

// The Kubernetes recipes of docs/recipes.md on a real node, each rolled
// out: their servers are on the node's address under the recipes' host
// names (PostgreSQL, Vault, an S3 bucket in MinIO, git as github.com), and
// what a cluster would provide is given the test's way: the test CA is
// trusted through SSL_CERT_FILE, the IRSA recipe's web identity is static
// MinIO keys with AWS_ENDPOINT_URL_S3, the apps are busybox.
func TestRecipesOnRealNode(t *testing.T) {
	k, n := startNode(t)
	gw := n.Gateway
	k.Namespace("recipes")
	nodePostgres(t, n, "api", "api-Db-Pass-3")
	vaultCA, _ := nodeVault(t, k, n, map[string]string{"secret/web/db": "username=web password=web-Db-Pass-9"}, vaultRole{"web", "recipes", "web"})
	gitCA := nodeGit(t, n, "github.com", "example/site.git", "v1.4.2", "site-Deploy-Token")
	minio := testserver.StartMinIO(t, testserver.MinIOOptions{Addr: gw + ":9000"})
	put := exec.Command(filepath.Join(repoRoot, "build", "testbin", "rootfs", "testbin"), "s3put", "-endpoint", minio.Endpoint, "ml-models",
		"resnet/v3/weights.bin=weights", "resnet/v3/labels.txt=cat\ndog\n")
	put.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testserver.MinIOUser, "AWS_SECRET_ACCESS_KEY="+testserver.MinIOPassword, "AWS_REGION=us-east-1")
	if out, err := put.CombinedOutput(); err != nil {
		t.Fatalf("s3put: %v\n%s", err, out)
	}
	for path, obj := range map[string]map[string]any{
		"/api/v1/namespaces/recipes/secrets/api-db":            {"kind": "Secret", "stringData": map[string]string{"password": "api-Db-Pass-3", "url": "postgres://api@postgres:5432/api"}},
		"/api/v1/namespaces/recipes/secrets/site-git":          {"kind": "Secret", "stringData": map[string]string{"token": "site-Deploy-Token"}},
		"/api/v1/namespaces/recipes/configmaps/web-templates":  {"kind": "ConfigMap", "data": map[string]string{"config.yaml.tmpl": "dsn: postgres://{{ .Data.db.username }}:{{ .Data.db.password }}@db/web\n"}},
		"/api/v1/namespaces/recipes/configmaps/test-ca-bundle": {"kind": "ConfigMap", "data": map[string]string{"ca.crt": string(vaultCA) + string(gitCA)}},
	} {
		dir, name := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
		obj["apiVersion"], obj["metadata"] = "v1", map[string]any{"name": name}
		k.Create(dir, obj)
	}
	// The web recipe's service account, which its comment says is bound
	// to the Vault role (the recipe does not declare it).
	k.Create("/api/v1/namespaces/recipes/serviceaccounts", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "web"}})
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "recipes.md"))
	if err != nil {
		t.Fatal(err)
	}
	var deployments []string
	for i, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if !strings.HasPrefix(m[1], "apiVersion:") {
			continue // a compose file
		}
		for _, man := range decodeManifests(t, fmt.Sprintf("recipe block %d", i+1), []byte(m[1])) {
			switch o := man.obj.(type) {
			case *corev1.ServiceAccount:
				k.Create("/api/v1/namespaces/recipes/serviceaccounts", o)
			case *appsv1.Deployment:
				recipeOnNode(&o.Spec.Template.Spec, gw, minio.Endpoint)
				k.Create("/apis/apps/v1/namespaces/recipes/deployments", o)
				deployments = append(deployments, o.Name)
			default:
				t.Fatalf("recipe block %d: a %s: the test posts ServiceAccounts and Deployments", i+1, man.kind)
			}
		}
	}
	if !slices.Contains(deployments, "web") {
		t.Fatal("no web recipe")
	}
	if len(deployments) < 4 {
		t.Fatalf("%d recipes, want at least 4", len(deployments))
	}
	for _, d := range deployments {
		rolledOutOnly(t, k, n, "recipes", d)
	}
}

// recipeOnNode gives a recipe's pod what the test's cluster provides.
func recipeOnNode(spec *corev1.PodSpec, gw, s3 string) {
	onNode(spec)
	spec.HostAliases = []corev1.HostAlias{{IP: gw, Hostnames: []string{"postgres", "vault.vault.svc", "github.com"}}}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "test-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "test-ca-bundle"}}}})
	fix := func(cs []corev1.Container, command []string) {
		for i := range cs {
			c := &cs[i]
			if c.Image != images.initbox {
				c.Image, c.Command, c.Args = images.busybox, command, nil
				c.ImagePullPolicy = corev1.PullNever
				continue
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: "SSL_CERT_FILE", Value: "/test-ca/ca.crt"},
				corev1.EnvVar{Name: "AWS_ENDPOINT_URL_S3", Value: s3},
				corev1.EnvVar{Name: "AWS_ACCESS_KEY_ID", Value: testserver.MinIOUser}, corev1.EnvVar{Name: "AWS_SECRET_ACCESS_KEY", Value: testserver.MinIOPassword})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "test-ca", MountPath: "/test-ca", ReadOnly: true})
		}
	}
	fix(spec.InitContainers, []string{"true"})
	fix(spec.Containers, []string{"sleep", "3600"})
}

// rolledOutOnly waits for a Deployment with initbox (k8s://deployment).
func rolledOutOnly(t *testing.T, k *testserver.Kube, n *testserver.KubeNode, ns, deployment string) {
	t.Helper()
	cmd := exec.Command(binaryPath(), "wait", "k8s://deployment/"+deployment, "--kubeconfig", k.Kubeconfig(k.AdminToken, ns, ""), "--timeout", "120s")
	if out, err := cmd.CombinedOutput(); err != nil {
		var pods corev1.PodList
		json.Unmarshal(k.Do("GET", "/api/v1/namespaces/"+ns+"/pods", nil), &pods)
		var why strings.Builder
		for _, p := range pods.Items {
			for _, c := range p.Status.InitContainerStatuses {
				fmt.Fprintf(&why, "%s/%s: %+v\n%s\n", p.Name, c.Name, c.State, n.ContainerLog(ns, p.Name, c.Name))
			}
		}
		t.Fatalf("recipe %s: initbox wait k8s://deployment/%s: %v\n%s\n%s", deployment, deployment, err, tailOf(string(out), 1500), why.String())
	}
}

// examples/kubernetes/sidecar.yaml on a real kubelet: the init step, then
// initbox as a native sidecar whose startupProbe holds the app until the
// credentials and certificate exist; while the app runs, the database
// credentials (a 12 s lease at its max TTL) and the certificate (12 s)
// are replaced under it, each before the old one ends, and the sidecar
// keeps running without a restart. The Vault role's TTLs are short here;
// the manifest is the example's.
func TestSidecarExampleOnRealNode(t *testing.T) {
	k, n := startNode(t)
	pg := nodePostgres(t, n, "shop", "shop-Readiness-1")
	vaultCA, v := nodeVault(t, k, n, nil, vaultRole{"shop", "shop", "shop-live"})
	root := v.Client()
	must := func(_ *vaultapi.Secret, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Sys().Mount("database", &vaultapi.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	must(root.Logical().Write("database/config/pg", map[string]any{"plugin_name": "postgresql-database-plugin",
		"connection_url": "postgresql://{{username}}:{{password}}@" + pg.Addr() + "/postgres?sslmode=disable",
		"username":       "postgres", "password": testserver.SuperPassword, "allowed_roles": "shop"}))
	must(root.Logical().Write("database/roles/shop", map[string]any{"db_name": "pg", "default_ttl": "12s", "max_ttl": "12s",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`}))
	if err := root.Sys().Mount("pki", &vaultapi.MountInput{Type: "pki", Config: vaultapi.MountConfigInput{MaxLeaseTTL: "87600h"}}); err != nil {
		t.Fatal(err)
	}
	must(root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "shop test root", "ttl": "8760h"}))
	must(root.Logical().Write("pki/roles/shop", map[string]any{"allowed_domains": "svc", "allow_subdomains": true, "max_ttl": "12s", "not_before_duration": "1s"}))

	k.Namespace("shop")
	k.Create("/api/v1/namespaces/shop/configmaps", map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "vault-ca"},
		"data": map[string]string{"ca.crt": string(vaultCA)}})
	var pod *corev1.Pod
	for _, m := range readManifests(t, "sidecar.yaml") {
		switch o := m.obj.(type) {
		case *corev1.ServiceAccount:
			k.Create("/api/v1/namespaces/shop/serviceaccounts", o)
		case *corev1.Pod:
			pod = o
		}
	}
	if pod == nil {
		t.Fatal("no Pod in sidecar.yaml")
	}
	onNode(&pod.Spec)
	pod.Spec.HostAliases = []corev1.HostAlias{{IP: n.Gateway, Hostnames: []string{"postgres", "vault.vault.svc"}}}
	k.Create("/api/v1/namespaces/shop/pods", pod)
	waitPhase(t, k, n, "shop", pod.Name, "Running", "Failed", "Succeeded")

	// The app's lines: user=… cert=…, one a second.
	seen := func() (users, certs []string, lines []string) {
		for _, l := range strings.Split(n.ContainerLog("shop", pod.Name, "app"), "\n") {
			u, c, ok := strings.Cut(strings.TrimSpace(l), " cert=")
			if !ok {
				continue
			}
			lines = append(lines, l)
			if u = strings.TrimPrefix(u, "user="); !slices.Contains(users, u) {
				users = append(users, u)
			}
			if !slices.Contains(certs, c) {
				certs = append(certs, c)
			}
		}
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		users, certs, lines := seen()
		if len(users) >= 3 && len(certs) >= 3 {
			if lines[0] == "" || strings.HasPrefix(lines[0], "user= ") || strings.Contains(lines[0], "cert=d41d8cd98f00") {
				t.Errorf("the app started before its files existed: %q", lines[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the app saw users %v and certificates %v, want each replaced twice\nsidecar:\n%s", users, certs,
				tailOf(n.ContainerLog("shop", pod.Name, "secrets"), 3000))
		}
		time.Sleep(time.Second)
	}
	var st corev1.Pod
	json.Unmarshal(k.Do("GET", "/api/v1/namespaces/shop/pods/"+pod.Name, nil), &st)
	for _, c := range st.Status.InitContainerStatuses {
		if c.Name == "secrets" && (c.State.Running == nil || c.RestartCount != 0 || c.Started == nil || !*c.Started) {
			t.Errorf("the sidecar: %+v (restarts %d), want running since its start", c.State, c.RestartCount)
		}
	}
	// Every credential the app saw was a real PostgreSQL role, made by Vault.
	users, _, _ := seen()
	for _, u := range users {
		if !strings.HasPrefix(u, "v-") {
			t.Errorf("user %q is not one of Vault's", u)
		}
	}
	log := n.ContainerLog("shop", pod.Name, "secrets")
	for _, want := range []string{"msg=republished", "msg=watching"} {
		if !strings.Contains(log, want) {
			t.Errorf("no %s in the sidecar's log:\n%s", want, tailOf(log, 3000))
		}
	}
}
