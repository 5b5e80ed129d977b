//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// examples/kubernetes/pod.yaml is a valid Pod (decoded strictly with the
// official types: an unknown or misspelled field fails), in the restricted
// profile, and its init containers do their job on the pod harness.
func TestKubernetesExamplePod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/kubernetes/pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(v)
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var pod corev1.Pod
	if err := dec.Decode(&pod); err != nil {
		t.Fatalf("pod.yaml does not decode strictly: %v", err)
	}
	for _, c := range append(slicesClone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s is not in the restricted profile", c.Name)
		}
	}

	// Run it: MinIO stands for the cluster's object store, a publish step
	// for whatever uploads the configuration.
	nw := NewNetwork(t)
	aws := minioService(t, nw)
	vols := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = true
	}
	convert := func(c corev1.Container, image string) Container {
		hc := Container{Name: c.Name, Image: image, Command: c.Command, Args: c.Args, Env: map[string]string{}, VolumeMounts: map[string]string{}, Restricted: true,
			User: fmt.Sprintf("%d:%d", *pod.Spec.SecurityContext.RunAsUser, *pod.Spec.SecurityContext.RunAsGroup)}
		for _, e := range c.Env {
			hc.Env[e.Name] = e.Value
		}
		if len(c.EnvFrom) > 0 { // the s3-credentials Secret
			for k, v := range aws {
				hc.Env[k] = v
			}
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Fatalf("%s mounts an undeclared volume %s", c.Name, m.Name)
			}
			hc.VolumeMounts[m.Name] = m.MountPath
		}
		return hc
	}
	init := []Container{{Name: "publish", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "config",
		"app/values.yaml=db: {host: pg.prod}\n", "app/templates/app.yaml.tmpl=database: {{ .Values.db.host }}\nregion: {{ .Env.APP_REGION }}\n"}},
		{Name: "publish-models", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "-tgz", "models.tar.gz", "config",
			"labels.txt=cat\ndog\n"}}}
	for _, c := range pod.Spec.InitContainers {
		if c.Image != "initbox:dev" {
			t.Fatalf("%s: image %s", c.Name, c.Image)
		}
		init = append(init, convert(c, images.initbox))
	}
	var names []string
	for _, v := range pod.Spec.Volumes {
		names = append(names, v.Name)
	}
	st := RunPod(t, Pod{Name: pod.Name, Network: nw, Volumes: names, InitContainers: init,
		Containers: []Container{convert(pod.Spec.Containers[0], images.busybox)}})
	st.InitSucceeded(t)
	app := st.Get(t, "app").Logs
	logsContain(t, "app output", app, "database: pg.prod", "region: eu-west-1", "cat\ndog")
	if strings.Contains(app, "e2e-Minio-Secret-1") {
		t.Error("a credential reached the app's output")
	}
}

func slicesClone(c []corev1.Container) []corev1.Container {
	return append([]corev1.Container(nil), c...)
}
