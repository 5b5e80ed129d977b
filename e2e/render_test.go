//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// fetch → render → app: the values and templates come from S3 into one
// emptyDir, render writes the configuration into another, and the main
// container (not initbox) reads it.
func TestFetchThenRenderIntoEmptyDir(t *testing.T) {
	nw := NewNetwork(t)
	aws := minioService(t, nw)
	st := RunPod(t, Pod{
		Name:    "app",
		Network: nw,
		Volumes: []string{"inputs", "config"},
		InitContainers: []Container{
			{Name: "wait-minio", Image: images.initbox, Restricted: true, Args: []string{"wait", "http://minio:9000/minio/health/ready", "--timeout", "60s"}},
			{Name: "publish", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "config",
				"values/values.yaml=db:\n  host: pg.prod\n  port: 5432\nreplicas: 3\n",
				"templates/app.yaml.tmpl=database: {{ .Values.db.host }}:{{ .Values.db.port }}\nworkers: {{ mul .Values.replicas 2 }}\nregion: {{ .Env.APP_REGION }}\n",
				"templates/nginx/site.conf.tmpl=server { listen {{ env \"APP_PORT\" }}; server_name $host; }\n"}},
			{Name: "fetch", Image: images.initbox, Restricted: true, Env: aws, VolumeMounts: map[string]string{"inputs": "/inputs"},
				Args: []string{"fetch", "s3://config/", "--out", "/inputs/", "--s3-endpoint", "http://minio:9000", "--mode", "0644"}},
			{Name: "render", Image: images.initbox, Restricted: true, Env: map[string]string{"APP_REGION": "eu-west-1", "APP_PORT": "8080", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
				VolumeMounts: map[string]string{"inputs": "/inputs", "config": "/config"},
				Args:         []string{"render", "/inputs/templates/", "--values", "/inputs/values/values.yaml", "--env-prefix", "APP_", "--out", "/config/"}},
		},
		Containers: []Container{{Name: "main", Image: images.busybox, User: "1000:1000", VolumeMounts: map[string]string{"config": "/config"},
			Args: []string{"-c", "cat /config/app.yaml /config/nginx/site.conf"}}},
	})
	st.InitSucceeded(t)
	logsContain(t, "render logs", st.Get(t, "render").Logs, "msg=rendered", "files=2")
	main := st.Get(t, "main")
	logsContain(t, "main output", main.Logs, "database: pg.prod:5432", "workers: 6", "region: eu-west-1", "server { listen 8080; server_name $host; }")
	if strings.Contains(main.Logs, "10.0.0.1") {
		t.Errorf("a variable outside the prefix leaked:\n%s", main.Logs)
	}
}

// The GC floor follows the container's memory limit: a render of 1,000
// templates collects not at all with a roomy limit (floor 48 MiB) and does
// collect under a 64 MiB limit (floor 16 MiB, a quarter), read from the
// cgroup the way Docker sets it up.
func TestGCFloorFollowsTheMemoryLimit(t *testing.T) {
	work := map[string]string{"work": "/work"}
	script := "mkdir -p /work/tpl && printf 'app: shop\\nenv: {A: a, B: b, C: c, D: d}\\n' > /work/values.yaml && " +
		"for i in $(seq 1000); do printf 'name: {{ .Values.app }}-%s\\nenv:\\n{{- range $k, $v := .Values.env }}\\n  {{ $k }}: {{ $v }}\\n{{- end }}\\n' $i > /work/tpl/c$i.yaml.tmpl; done"
	render := func(name string, limit int64) Container {
		return Container{Name: name, Image: images.initbox, Restricted: true, MemoryLimit: limit, VolumeMounts: work,
			Env:  map[string]string{"GODEBUG": "gctrace=1"},
			Args: []string{"render", "/work/tpl/", "--values", "/work/values.yaml", "--out", "/work/" + name + "/"}}
	}
	st := RunPod(t, Pod{
		Name:    "gcfloor",
		Volumes: []string{"work"},
		InitContainers: []Container{
			{Name: "prep", Image: images.busybox, VolumeMounts: work, Args: []string{"-c", script}},
			render("roomy", 1<<30),
			render("tight", 64<<20),
		},
		Containers: []Container{{Name: "main", Image: images.busybox, VolumeMounts: work, Args: []string{"-c", "cat /work/roomy/c7.yaml /work/tight/c7.yaml"}}},
	})
	st.InitSucceeded(t)
	logsContain(t, "main output", st.Get(t, "main").Logs, "name: shop-7\nenv:\n  A: a")
	collections := func(name string) int {
		n := 0
		for line := range strings.Lines(st.Get(t, name).Logs) {
			if strings.HasPrefix(line, "gc ") {
				n++
			}
		}
		return n
	}
	if n := collections("roomy"); n != 0 {
		t.Errorf("with a 1 GiB limit the render collected %d times; want none below the 48 MiB floor", n)
	}
	if n := collections("tight"); n == 0 {
		t.Errorf("with a 64 MiB limit the render never collected: the floor did not follow the limit (16 MiB)\n%s", st.Get(t, "tight").Logs)
	}
}
