//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// initbox as a native sidecar on the pod harness: a regular init step,
// then `fetch --watch` with restartPolicy: Always and a startupProbe on
// /readyz. The app starts only after the probe passed and its files are
// there on its first look; a new KV version reaches it while it runs; when
// it has finished, the sidecar is stopped with SIGTERM and exits 0 within
// the grace period, never restarted.
func TestNativeSidecarOnPodHarness(t *testing.T) {
	nw := NewNetwork(t)
	vault := vaultService(t, nw)
	kv := vault.KVv2("secret")
	if _, err := kv.Put(t.Context(), "app", map[string]any{"color": "blue"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VAULT_ADDR": "http://vault:8200", "VAULT_TOKEN": "root"}
	mounts := map[string]string{"secrets": "/secrets"}
	rotated := make(chan error, 1)
	st := RunPod(t, Pod{
		Name: "app", Network: nw, MemoryVolumes: []string{"secrets"}, TerminationGracePeriod: 10 * time.Second,
		InitContainers: []Container{
			{Name: "wait", Image: images.initbox, Restricted: true, Args: []string{"wait", "http://vault:8200/v1/sys/health", "--timeout=30s"}},
			{Name: "secrets", Image: images.initbox, Restricted: true, Env: env, VolumeMounts: mounts, RestartPolicy: "Always",
				Args:         []string{"fetch", "vault://secret/app", "--format=dir", "--out=/secrets/app/", "--mode=0444", "--watch", "--refresh=1s", "--health-addr=:8099"},
				StartupProbe: &Probe{Path: "/readyz", Port: 8099, Period: time.Second, FailureThreshold: 30}},
		},
		OnMainStart: func() {
			go func() {
				time.Sleep(3 * time.Second)
				_, err := kv.Put(t.Context(), "app", map[string]any{"color": "green"})
				rotated <- err
			}()
		},
		Containers: []Container{{Name: "app", Image: images.busybox, User: "1000:1000", VolumeMounts: mounts, Args: []string{"-c", `
			echo "first look: $(cat /secrets/app/color 2>&1)"
			for i in $(seq 60); do
				if [ "$(cat /secrets/app/color)" = green ]; then echo "now: green"; exit 0; fi
				sleep 0.5
			done
			echo "never rotated"; exit 1`}}},
	})
	if err := <-rotated; err != nil {
		t.Fatal(err)
	}
	st.InitSucceeded(t)
	app, side := st.Get(t, "app"), st.Get(t, "secrets")
	if app.ExitCode != 0 {
		t.Fatalf("app exited %d:\n%s\nsidecar:\n%s", app.ExitCode, app.Logs, side.Logs)
	}
	logsContain(t, "app", app.Logs, "first look: blue", "now: green")
	switch {
	case side.StartedOK.IsZero() || !app.StartedAt.After(side.StartedOK.Add(-time.Second)):
		t.Errorf("the app started at %v, before the sidecar's startup probe passed (%v)", app.StartedAt, side.StartedOK)
	case !side.FinishedAt.After(app.FinishedAt):
		t.Errorf("the sidecar stopped at %v, before the app finished (%v)", side.FinishedAt, app.FinishedAt)
	case side.Killed || side.ExitCode != 0:
		t.Errorf("the sidecar did not end on SIGTERM within the grace period: exit %d, killed %v\n%s", side.ExitCode, side.Killed, side.Logs)
	case side.Restarts != 0:
		t.Errorf("the sidecar was restarted %d times:\n%s", side.Restarts, side.Logs)
	}
	logsContain(t, "secrets", side.Logs, "msg=watching", "msg=republished", `msg="stopped watching"`)
	if strings.Contains(side.Logs, "green") || strings.Contains(side.Logs, "blue") {
		t.Errorf("a value in the sidecar's log:\n%s", side.Logs)
	}
}

// A sidecar whose first pass cannot succeed never passes its startup
// probe: it is restarted (restartPolicy: Always), the app never starts,
// and the pod reports the probe.
func TestNativeSidecarThatNeverStarts(t *testing.T) {
	nw := NewNetwork(t)
	vaultService(t, nw)
	env := map[string]string{"VAULT_ADDR": "http://vault:8200", "VAULT_TOKEN": "root"}
	st := RunPod(t, Pod{
		Name: "app", Network: nw, MemoryVolumes: []string{"secrets"}, TerminationGracePeriod: 5 * time.Second,
		InitContainers: []Container{
			{Name: "secrets", Image: images.initbox, Restricted: true, Env: env, VolumeMounts: map[string]string{"secrets": "/secrets"}, RestartPolicy: "Always",
				Args:         []string{"fetch", "vault://secret/missing", "--out=/secrets/app.json", "--watch", "--health-addr=:8099", "--timeout=1s"},
				StartupProbe: &Probe{Path: "/readyz", Port: 8099, Period: time.Second, FailureThreshold: 8}},
		},
		Containers: []Container{{Name: "app", Image: images.busybox, Args: []string{"-c", "echo started"}}},
	})
	side, app := st.Get(t, "secrets"), st.Get(t, "app")
	if app.Ran {
		t.Errorf("the app started although the sidecar never became ready:\n%s", app.Logs)
	}
	if !strings.Contains(side.ProbeError, "startup probe /readyz failed 8 times") {
		t.Errorf("probe error %q", side.ProbeError)
	}
	if side.Restarts == 0 {
		t.Errorf("the sidecar that exited was not restarted:\n%s", side.Logs)
	}
	logsContain(t, "secrets", side.Logs, "vault://secret/missing")
}
