//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/initbox/initbox/internal/testserver"
)

// pauseImage is the sandbox image of the node: testbin's pause, built
// from the local testbin image (nothing is pulled).
func pauseImage(t *testing.T) string {
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
func waitPhase(t *testing.T, k *testserver.Kube, n *testserver.KubeNode, ns, name string, phases ...string) corev1.PodStatus {
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
		t.Fatalf("initbox wait k8s://deployment/%s: %v\n%s\n%s", deployment, err, out, n.Logs())
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
