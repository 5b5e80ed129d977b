//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/initbox/initbox/internal/app"
	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/wait/k8s"
)

// The Kubernetes ways of use — the plain manifests in examples/kubernetes,
// the Helm library chart, the kustomize components — are decoded strictly
// with the official k8s.io/api types (an unknown or misspelled field
// fails), checked for the restricted profile, declared volumes and the RBAC
// their k8s:// waits need, and, where the steps can run here, run on the
// pod harness against MinIO.

// manifestKinds are the kinds the examples hold, with their apiVersion.
var manifestKinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Pod":                {"v1", func() any { return new(corev1.Pod) }},
	"ServiceAccount":     {"v1", func() any { return new(corev1.ServiceAccount) }},
	"ConfigMap":          {"v1", func() any { return new(corev1.ConfigMap) }},
	"Secret":             {"v1", func() any { return new(corev1.Secret) }},
	"Deployment":         {"apps/v1", func() any { return new(appsv1.Deployment) }},
	"Job":                {"batch/v1", func() any { return new(batchv1.Job) }},
	"Role":               {"rbac.authorization.k8s.io/v1", func() any { return new(rbacv1.Role) }},
	"RoleBinding":        {"rbac.authorization.k8s.io/v1", func() any { return new(rbacv1.RoleBinding) }},
	"ClusterRole":        {"rbac.authorization.k8s.io/v1", func() any { return new(rbacv1.ClusterRole) }},
	"ClusterRoleBinding": {"rbac.authorization.k8s.io/v1", func() any { return new(rbacv1.ClusterRoleBinding) }},
}

// manifest is one decoded object.
type manifest struct {
	source, kind, name string
	obj                any
}

// decodeManifests decodes every document of a YAML stream strictly.
func decodeManifests(t *testing.T, source string, b []byte) []manifest {
	t.Helper()
	var out []manifest
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var v map[string]any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		if v == nil { // an empty document
			continue
		}
		kind, _ := v["kind"].(string)
		k, ok := manifestKinds[kind]
		if !ok {
			t.Fatalf("%s: kind %q is not one this test decodes", source, kind)
		}
		if v["apiVersion"] != k.apiVersion {
			t.Fatalf("%s: %s has apiVersion %v, want %s", source, kind, v["apiVersion"], k.apiVersion)
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		jd := json.NewDecoder(bytes.NewReader(j))
		jd.DisallowUnknownFields()
		obj := k.new()
		if err := jd.Decode(obj); err != nil {
			t.Fatalf("%s: %s does not decode strictly: %v", source, kind, err)
		}
		name, _ := v["metadata"].(map[string]any)["name"].(string)
		out = append(out, manifest{source: source, kind: kind, name: name, obj: obj})
	}
}

// podSpec returns the pod spec of a Pod, Deployment or Job.
func podSpec(m manifest) (*corev1.PodSpec, bool) {
	switch o := m.obj.(type) {
	case *corev1.Pod:
		return &o.Spec, true
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, true
	case *batchv1.Job:
		return &o.Spec.Template.Spec, true
	}
	return nil, false
}

// checkPodSpec: the restricted profile for every container, resource
// requests for every init container, and no mount of an undeclared volume.
func checkPodSpec(t *testing.T, where string, spec *corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
	}
	if len(spec.InitContainers) == 0 {
		t.Errorf("%s: no init containers", where)
	}
	for i, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: container %s is not in the restricted profile", where, c.Name)
		}
		if !podNonRoot && (sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			t.Errorf("%s: container %s may run as root", where, c.Name)
		}
		if !podSeccomp && (sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			t.Errorf("%s: container %s has no RuntimeDefault seccomp profile", where, c.Name)
		}
		if i < len(spec.InitContainers) && len(c.Resources.Requests) == 0 {
			t.Errorf("%s: init container %s has no resource requests", where, c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Errorf("%s: container %s mounts undeclared volume %q", where, c.Name, m.Name)
			}
		}
	}
}

// checkArgs validates every initbox container's arguments as `initbox run
// --check` does: the command's own flag and reference parsing, in process,
// with nothing run. A misspelled flag or a bad URL in an example fails here.
func checkArgs(t *testing.T, where string, spec *corev1.PodSpec) {
	t.Helper()
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if !strings.HasPrefix(c.Image, "initbox") {
			continue
		}
		if len(c.Command) > 0 || len(c.Args) == 0 {
			t.Errorf("%s: %s: want args [COMMAND, ...] and the image's entrypoint", where, c.Name)
			continue
		}
		checkStep(t, where+": "+c.Name, c.Args)
	}
}

// checkStep runs one step's arguments (COMMAND, flags, arguments) through
// the command's own validation, in process, with nothing run.
func checkStep(t *testing.T, where string, args []string) {
	t.Helper()
	var stderr bytes.Buffer
	ctx := clix.WithCheckOnly(t.Context())
	if code := app.Main(ctx, append([]string{"initbox"}, args...), strings.NewReader(""), io.Discard, &stderr); code != 0 {
		t.Errorf("%s: initbox %s: exit %d:\n%s", where, strings.Join(args, " "), code, stderr.String())
	}
}

// checkRBAC: a pod whose init containers wait for k8s:// targets runs as a
// service account declared in the same set of manifests, bound to a Role
// that allows list and watch on each target's resource.
func checkRBAC(t *testing.T, all []manifest) {
	t.Helper()
	accounts, roles := map[string]bool{}, map[string]*rbacv1.Role{}
	bound := map[string][]string{} // service account -> role names
	for _, m := range all {
		switch o := m.obj.(type) {
		case *corev1.ServiceAccount:
			accounts[o.Name] = true
		case *rbacv1.Role:
			roles[o.Name] = o
		case *rbacv1.RoleBinding:
			for _, s := range o.Subjects {
				if s.Kind == "ServiceAccount" && o.RoleRef.Kind == "Role" {
					bound[s.Name] = append(bound[s.Name], o.RoleRef.Name)
				}
			}
		}
	}
	allows := func(sa, group, resource string) bool {
		for _, rn := range bound[sa] {
			r := roles[rn]
			if r == nil {
				continue
			}
			for _, rule := range r.Rules {
				if (slices.Contains(rule.APIGroups, group) || slices.Contains(rule.APIGroups, "*")) &&
					(slices.Contains(rule.Resources, resource) || slices.Contains(rule.Resources, "*")) &&
					slices.Contains(rule.Verbs, "list") && slices.Contains(rule.Verbs, "watch") {
					return true
				}
			}
		}
		return false
	}
	for _, m := range all {
		spec, ok := podSpec(m)
		if !ok {
			continue
		}
		for _, c := range spec.InitContainers {
			if len(c.Args) == 0 || c.Args[0] != "wait" {
				continue
			}
			for _, a := range c.Args[1:] {
				if !strings.HasPrefix(a, "k8s://") {
					continue
				}
				u, err := url.Parse(a)
				if err != nil {
					t.Fatalf("%s: %s: %v", m.source, a, err)
				}
				group, resource, ok := k8s.Resource(u.Host)
				if !ok {
					t.Errorf("%s: %s: the test knows the rules of built-in kinds only", m.source, a)
					continue
				}
				sa := spec.ServiceAccountName
				switch {
				case sa == "" || sa == "default":
					t.Errorf("%s: %s waits for %s as the default service account", m.source, c.Name, a)
				case !accounts[sa]:
					t.Errorf("%s: service account %q is declared in no manifest", m.source, sa)
				case !allows(sa, group, resource):
					t.Errorf("%s: %s waits for %s, but no Role bound to %q allows list and watch on %s.%s", m.source, c.Name, a, sa, resource, group)
				}
			}
		}
	}
}

// runBootstrap runs a pod spec's init containers on the pod harness against
// MinIO (the cluster's object store; publish containers upload the app's
// values, template and a models archive first), then an inspector with the
// app container's mounts, and checks what the app would read.
func runBootstrap(t *testing.T, name string, spec *corev1.PodSpec) {
	t.Helper()
	nw := NewNetwork(t)
	aws := minioService(t, nw)
	user := fmt.Sprintf("%d:%d", *spec.SecurityContext.RunAsUser, *spec.SecurityContext.RunAsGroup)
	convert := func(c corev1.Container, image string) Container {
		hc := Container{Name: c.Name, Image: image, Command: c.Command, Args: c.Args, Env: map[string]string{}, VolumeMounts: map[string]string{},
			Restricted: true, User: user}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				t.Fatalf("%s: %s: env %s from a Secret or field: the harness has none", name, c.Name, e.Name)
			}
			hc.Env[e.Name] = e.Value
		}
		for _, ef := range c.EnvFrom { // the s3-credentials Secret
			if ef.SecretRef == nil || ef.SecretRef.Name != "s3-credentials" {
				t.Fatalf("%s: %s: envFrom %+v: the harness has only the s3-credentials Secret", name, c.Name, ef)
			}
			for k, v := range aws {
				hc.Env[k] = v
			}
		}
		for _, m := range c.VolumeMounts {
			hc.VolumeMounts[m.Name] = m.MountPath
		}
		return hc
	}
	init := []Container{{Name: "publish", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "config",
		"app/values.yaml=db: {host: pg.prod}\n", "app/templates/app.yaml.tmpl=database: {{ .Values.db.host }}\nregion: {{ .Env.APP_REGION }}\n"}},
		{Name: "publish-models", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "-tgz", "models.tar.gz", "config",
			"labels.txt=cat\ndog\n"}}}
	for _, c := range spec.InitContainers {
		if c.Image != "initbox:dev" {
			t.Fatalf("%s: %s: image %s, want initbox:dev (what the harness maps to this run's image)", name, c.Name, c.Image)
		}
		init = append(init, convert(c, images.initbox))
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d app containers, want 1", name, len(spec.Containers))
	}
	app := convert(spec.Containers[0], images.busybox)
	app.Command, app.Args = []string{"sh", "-c", "cat /config/app.yaml && cat /models/labels.txt"}, nil
	pod := Pod{Name: name, Network: nw, InitContainers: init, Containers: []Container{app}}
	for _, v := range spec.Volumes {
		switch {
		case v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory:
			pod.MemoryVolumes = append(pod.MemoryVolumes, v.Name)
		case v.EmptyDir != nil:
			pod.Volumes = append(pod.Volumes, v.Name)
		default:
			t.Fatalf("%s: volume %s is not an emptyDir: the harness has only those", name, v.Name)
		}
	}
	st := RunPod(t, pod)
	st.InitSucceeded(t)
	out := st.Get(t, app.Name).Logs
	logsContain(t, name+": app output", out, "database: pg.prod", "region: eu-west-1", "cat\ndog")
	if strings.Contains(out, "e2e-Minio-Secret-1") {
		t.Error("a credential reached the app's output")
	}
}

// examples/kubernetes: every manifest decodes strictly and passes the
// checks; pod.yaml (the four steps against S3) runs on the harness. The
// Deployment's steps need a cluster (the TokenReview API for Vault's
// Kubernetes auth, a Job and a Service to wait for): their code paths are
// tested against a real Vault and an API server in fetch/ and wait/k8s.
func TestKubernetesExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "examples/kubernetes/*.yaml"))
	if len(files) < 4 {
		t.Fatalf("examples/kubernetes holds %d manifests, want pod, deployment, rbac and vault-auth", len(files))
	}
	var all []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, decodeManifests(t, filepath.Base(f), b)...)
	}
	var pod *corev1.PodSpec
	for _, m := range all {
		if spec, ok := podSpec(m); ok {
			checkPodSpec(t, m.source, spec)
			checkArgs(t, m.source, spec)
			if m.kind == "Pod" && m.source == "pod.yaml" { // sidecar.yaml runs on the real node
				pod = spec
			}
		}
	}
	checkRBAC(t, all)
	if t.Failed() || pod == nil {
		t.FailNow()
	}
	runBootstrap(t, "shop", pod)
}

// The Helm library chart: `helm template` of the demo chart (which lists
// its steps with include "initbox.wait" …) gives manifests that decode
// strictly, and its init containers run on the harness.
func TestHelmLibraryChart(t *testing.T) {
	out := helmTemplate(t, filepath.Join(repoRoot, "examples/helm/shop"))
	all := decodeManifests(t, "helm template examples/helm/shop", out)
	var dep *corev1.PodSpec
	for _, m := range all {
		if spec, ok := podSpec(m); ok && m.kind == "Deployment" {
			dep = spec
		}
	}
	if dep == nil {
		t.Fatalf("no Deployment in:\n%s", out)
	}
	checkPodSpec(t, "helm template", dep)
	checkArgs(t, "helm template", dep)
	var names []string
	for _, c := range dep.InitContainers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"wait", "fetch", "render", "models"}) {
		t.Errorf("init containers %v, want wait, fetch, render, models in that order", names)
	}
	// The dict's keys are the command's flags; its arguments come last.
	if got, want := dep.InitContainers[3].Args, []string{"seed", "--if-empty=true", "--s3-endpoint=http://minio:9000", "s3://config/models.tar.gz", "/models"}; !slices.Equal(got, want) {
		t.Errorf("seed args %q, want %q", got, want)
	}
	if t.Failed() {
		t.FailNow()
	}
	runBootstrap(t, "shop-helm", dep)
}

// What the library's templates make of a dict, and how they refuse one.
func TestHelmLibraryChartDicts(t *testing.T) {
	for _, tc := range []struct {
		name, include string
		want          []string
		fails         bool
	}{
		{"lists repeat the flag", `(dict "image" "initbox:1" "refs" (list "vault://a/b" "vault://a/c") "include" (list "*.yaml" "*.json") "concurrency" 8)`,
			[]string{`args: ["fetch","--concurrency=8","--include=*.yaml","--include=*.json","vault://a/b","vault://a/c"]`}, false},
		{"image from the including chart's values", `(dict "root" $ "refs" "vault://a/b")`, []string{`image: "registry.example/initbox:9.9"`}, false},
		{"container keys are not flags", `(dict "image" "i" "refs" "vault://a/b" "name" "secrets" "imagePullPolicy" "Never" "env" (list (dict "name" "A" "value" "1")))`,
			[]string{`- name: "secrets"`, `image: "i"`, `imagePullPolicy: "Never"`, `args: ["fetch","vault://a/b"]`, `env: [{"name":"A","value":"1"}]`}, false},
		{"a missing argument", `(dict "image" "i" "source" "/a")`, []string{`initbox.fetch (fetch): "refs" is required`}, true},
		{"a map where a flag goes", `(dict "image" "i" "refs" "vault://a/b" "out" (dict "a" 1))`, []string{`option "out" is a map`}, true},
		{"a dashed option", `(dict "image" "i" "refs" "vault://a/b" "--out" "/x")`, []string{`write option names without dashes ("--out")`}, true},
		{"no image", `(dict "refs" "vault://a/b")`, []string{`initbox.fetch: no image`}, true},
		{"not a dict", `"vault://a/b"`, []string{`initbox.fetch takes a dict`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"Chart.yaml":  "apiVersion: v2\nname: t\nversion: 0.1.0\ndependencies: [{name: initbox, version: 0.1.0, repository: file://lib}]\n",
				"values.yaml": "initbox: {image: {repository: registry.example/initbox, tag: \"9.9\"}}\n",
				"templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  containers: [{name: app, image: app}]\n  initContainers:\n" +
					`    {{- include "initbox.fetch" ` + tc.include + " | nindent 4 }}\n",
			})
			if err := os.Mkdir(filepath.Join(dir, "charts"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(repoRoot, "charts/initbox"), filepath.Join(dir, "charts/initbox")); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(helmBin(t), "template", "t", dir)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			out := stdout.Bytes()
			for _, w := range tc.want {
				if !strings.Contains(stdout.String()+stderr.String(), w) {
					t.Fatalf("helm template (err %v) lacks %q:\n%s%s", err, w, out, stderr.Bytes())
				}
			}
			if tc.fails {
				if err == nil {
					t.Fatal("helm template succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, stderr.Bytes())
			}
			decodeManifests(t, tc.name, out)
		})
	}
}

// The kustomize components: `kubectl kustomize` of the shop overlay gives a
// Deployment with the four steps in the components' order, each with the
// args the overlay patched in; it decodes strictly and runs on the harness.
// A component whose args nobody patched fails the pod (exit 2, usage).
func TestKustomizeComponents(t *testing.T) {
	out := kustomize(t, filepath.Join(repoRoot, "examples/kustomize/shop"))
	all := decodeManifests(t, "kubectl kustomize examples/kustomize/shop", out)
	if len(all) != 1 || all[0].kind != "Deployment" {
		t.Fatalf("want one Deployment, got:\n%s", out)
	}
	dep, _ := podSpec(all[0])
	checkPodSpec(t, "kustomize", dep)
	checkArgs(t, "kustomize", dep)
	var names []string
	for _, c := range dep.InitContainers {
		names = append(names, c.Name)
		if len(c.Args) == 0 || "initbox-"+c.Args[0] != c.Name {
			t.Errorf("%s runs %q", c.Name, c.Args)
		}
	}
	if !slices.Equal(names, []string{"initbox-wait", "initbox-fetch", "initbox-render", "initbox-seed"}) {
		t.Errorf("init containers %v, want the components' order", names)
	}
	if t.Failed() {
		t.FailNow()
	}
	runBootstrap(t, "shop-kustomize", dep)

	t.Run("a step left unconfigured fails the pod", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\n" +
				"components: [" + relPath(t, dir, filepath.Join(repoRoot, "examples/kustomize/components/wait")) + "]\n",
			"deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, labels: {initbox.dev/bootstrap: \"true\"}}\n" +
				"spec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers: [{name: app, image: app}]\n",
		})
		all := decodeManifests(t, "unconfigured", kustomize(t, dir))
		dep, _ := podSpec(all[0])
		c := dep.InitContainers[0]
		if len(c.Args) != 0 {
			t.Fatalf("args %q", c.Args)
		}
		st := RunPod(t, Pod{Name: "unconfigured", InitContainers: []Container{{Name: c.Name, Image: images.initbox, Args: c.Args, Restricted: true}},
			Containers: []Container{{Name: "app", Image: images.busybox, Command: []string{"true"}}}})
		s := st.Get(t, c.Name)
		if s.ExitCode != 2 || st.Get(t, "app").Ran {
			t.Fatalf("exit %d, app ran %v; want 2 and the app not started:\n%s", s.ExitCode, st.Get(t, "app").Ran, s.Logs)
		}
		logsContain(t, "usage", s.Logs, "no command given", "USAGE")
	})
}

// relPath is target relative to dir (kustomize takes only relative
// component paths).
func relPath(t *testing.T, dir, target string) string {
	t.Helper()
	r, err := filepath.Rel(dir, target)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func helmBin(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot, "build/peers/helm")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm is not built (%v): run make e2e, which builds it from helm.sh/helm/v3", err)
	}
	return p
}

func helmTemplate(t *testing.T, chart string) []byte {
	t.Helper()
	out, err := exec.Command(helmBin(t), "template", "demo", chart).Output()
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", chart, err, stderrOf(err))
	}
	return out
}

// kustomize renders dir with `kubectl kustomize` (kubectl is on the
// machine), or with kustomize built from its module where kubectl is not.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	var cmd *exec.Cmd
	if k, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command(k, "kustomize", dir)
	} else if p := filepath.Join(repoRoot, "build/peers/kustomize"); fileExists(p) {
		cmd = exec.Command(p, "build", dir)
	} else {
		t.Fatal("neither kubectl nor build/peers/kustomize: make e2e builds kustomize where kubectl is missing")
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderrOf(err))
	}
	return out
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// writeFiles writes name → content below dir, creating directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The library chart's sidecar form: "watch" true gives a native sidecar
// (restartPolicy Always, --health-addr, a startupProbe on /readyz, a
// livenessProbe on /healthz) that decodes strictly and whose arguments the
// command accepts; "watch" on wait fails helm template.
func TestHelmLibrarySidecar(t *testing.T) {
	chart := t.TempDir()
	os.MkdirAll(filepath.Join(chart, "templates"), 0o755)
	os.MkdirAll(filepath.Join(chart, "charts"), 0o755)
	os.Symlink(filepath.Join(repoRoot, "charts/initbox"), filepath.Join(chart, "charts/initbox"))
	os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: live\nversion: 0.1.0\ndependencies:\n  - {name: initbox, version: 0.1.0, repository: file://charts/initbox}\n"), 0o644)
	os.WriteFile(filepath.Join(chart, "values.yaml"), []byte("initbox: {image: initbox:dev}\n"), 0o644)
	pod := `apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  volumes: [{name: secrets, emptyDir: {medium: Memory}}]
  initContainers:
    {{- include "initbox.fetch" (dict "root" $ "name" "secrets" "refs" (list "vault://database/creds/app") "out" "/secrets/db/" "format" "dir"
          "vault-auth" "kubernetes" "vault-role" "app" "watch" true "on-change-url" "http://localhost:8080/-/reload"
          "volumeMounts" (list (dict "name" "secrets" "mountPath" "/secrets"))) | nindent 4 }}
  containers:
    - name: app
      image: busybox
      command: [sleep, "3600"]
      volumeMounts: [{name: secrets, mountPath: /secrets, readOnly: true}]
      resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`
	os.WriteFile(filepath.Join(chart, "templates/pod.yaml"), []byte(pod), 0o644)
	out := helmTemplate(t, chart)
	var spec *corev1.PodSpec
	for _, m := range decodeManifests(t, "helm template (sidecar)", out) {
		if s, ok := podSpec(m); ok {
			spec = s
		}
	}
	if spec == nil || len(spec.InitContainers) != 1 {
		t.Fatalf("no pod with one init container in:\n%s", out)
	}
	checkPodSpec(t, "helm template (sidecar)", spec)
	checkArgs(t, "helm template (sidecar)", spec)
	c := spec.InitContainers[0]
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restartPolicy %v, want Always", c.RestartPolicy)
	}
	if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.IntValue() != 8099 {
		t.Errorf("startupProbe %+v, want GET /readyz on 8099", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe %+v, want GET /healthz", p)
	}
	for _, want := range []string{"--watch=true", "--health-addr=:8099", "--on-change-url=http://localhost:8080/-/reload"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	// A health address of the chart's own: the probes follow it.
	os.WriteFile(filepath.Join(chart, "templates/pod.yaml"), []byte(strings.Replace(pod, `"watch" true`, `"watch" true "health-addr" ":9000"`, 1)), 0o644)
	if out := string(helmTemplate(t, chart)); !strings.Contains(out, `"port":9000`) || !strings.Contains(out, "--health-addr=:9000") {
		t.Errorf("--health-addr :9000 not followed:\n%s", out)
	}
	os.WriteFile(filepath.Join(chart, "templates/pod.yaml"), []byte(strings.Replace(pod, `"initbox.fetch" (dict "root" $ "name" "secrets" "refs" (list "vault://database/creds/app")`, `"initbox.wait" (dict "root" $ "name" "secrets" "targets" (list "tcp://db:5432")`, 1)), 0o644)
	cmd := exec.Command(helmBin(t), "template", "demo", chart)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), `"watch" is for fetch, render, seed and run`) {
		t.Errorf("watch on wait: %v\n%s", err, b)
	}
}
