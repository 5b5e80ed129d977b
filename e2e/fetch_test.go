//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// vaultService starts the Vault image on the network as "vault" and returns
// a root client for setting it up from the test.
func vaultService(t *testing.T, nw string) *api.Client {
	t.Helper()
	ctr := Service(t, nw, "vault", Container{Name: "vault", Image: images.vault, ExposedPorts: []string{"8200/tcp"}})
	endpoint, err := ctr.PortEndpoint(t.Context(), "8200/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Address = endpoint
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("root")
	deadline := time.Now().Add(60 * time.Second)
	for {
		h, err := c.Sys().Health()
		if err == nil && h.Initialized && !h.Sealed {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("Vault did not come up at %s (%v):\n%s", endpoint, err, readLogs(t.Context(), ctr))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetch writes a secret into a memory-backed emptyDir; the main container
// (not initbox) reads it, with the mode and owner asked for.
func TestFetchIntoMemoryEmptyDir(t *testing.T) {
	const canary = "pw-E2E-Canary-6d5e4f"
	nw := NewNetwork(t)
	vault := vaultService(t, nw)
	if _, err := vault.KVv2("secret").Put(t.Context(), "app/db", map[string]any{"username": "app", "password": canary}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VAULT_ADDR": "http://vault:8200", "VAULT_TOKEN": "root"}
	st := RunPod(t, Pod{
		Name:          "app",
		Network:       nw,
		MemoryVolumes: []string{"secrets"},
		InitContainers: []Container{
			// Restricted, as uid 65532: the default mode, 0600.
			{Name: "fetch", Image: images.initbox, Restricted: true, Env: env, VolumeMounts: map[string]string{"secrets": "/secrets"},
				Args: []string{"fetch", "vault://secret/app/db#password", "--out", "/secrets/db-password"}},
			// As root with only CAP_CHOWN: a Secret-volume-shaped directory
			// owned by the application's user, read-only to it.
			{Name: "fetch-owned", Image: images.initbox, Restricted: true, User: "0:0", CapAdd: []string{"CHOWN"}, Env: env,
				VolumeMounts: map[string]string{"secrets": "/secrets"},
				Args:         []string{"fetch", "vault://secret/app/db", "--format", "dir", "--out", "/secrets/db/", "--owner", "1000:1000", "--mode", "0400"}},
		},
		Containers: []Container{{Name: "main", Image: images.busybox, User: "1000:1000", VolumeMounts: map[string]string{"secrets": "/secrets"},
			Args: []string{"-c", `stat -c '%a %u:%g %n' /secrets/db-password /secrets/db/..data/password /secrets/db/..data/username;
				echo "password=$(cat /secrets/db/password)"; grep ' /secrets ' /proc/mounts | cut -d' ' -f3; stat -c 'volume %a' /secrets`}}},
	})
	for _, name := range []string{"fetch", "fetch-owned"} {
		s := st.Get(t, name)
		if s.ExitCode != 0 {
			t.Fatalf("%s exited %d:\n%s", name, s.ExitCode, s.Logs)
		}
		if strings.Contains(s.Logs, canary) || strings.Contains(s.TerminationMessage, canary) {
			t.Errorf("%s printed the secret:\n%s", name, s.Logs)
		}
	}
	main := st.Get(t, "main")
	logsContain(t, "main output", main.Logs,
		"600 65532:65532 /secrets/db-password",
		"400 1000:1000 /secrets/db/..data/password",
		"400 1000:1000 /secrets/db/..data/username",
		"password="+canary,
		"tmpfs",
		"volume 777")
}

// fetch s3:// in an init container writes a prefix into an emptyDir; the
// main container (not initbox) reads it.
func TestFetchFromS3IntoEmptyDir(t *testing.T) {
	nw := NewNetwork(t)
	aws := minioService(t, nw)
	st := RunPod(t, Pod{
		Name:    "app",
		Network: nw,
		Volumes: []string{"config"},
		InitContainers: []Container{
			{Name: "wait-minio", Image: images.initbox, Restricted: true, Args: []string{"wait", "http://minio:9000/minio/health/ready", "--timeout", "60s"}},
			// Stands for whatever publishes the configuration.
			{Name: "publish", Image: images.testbin, Env: aws, Args: []string{"s3put", "-endpoint", "http://minio:9000", "config",
				"app/app.yaml=port: 8080\n", "app/features/flags.json={\"beta\": true}\n", "other/skip.txt=not fetched"}},
			{Name: "fetch", Image: images.initbox, Restricted: true, Env: aws, VolumeMounts: map[string]string{"config": "/config"},
				Args: []string{"fetch", "s3://config/app/", "--out", "/config/", "--s3-endpoint", "http://minio:9000", "--mode", "0644"}},
		},
		Containers: []Container{{Name: "main", Image: images.busybox, User: "1000:1000", VolumeMounts: map[string]string{"config": "/config"},
			Args: []string{"-c", "cat /config/app.yaml /config/features/flags.json; ls /config"}}},
	})
	st.InitSucceeded(t)
	logsContain(t, "fetch logs", st.Get(t, "fetch").Logs, "listed", "objects=2", "published")
	main := st.Get(t, "main")
	logsContain(t, "main output", main.Logs, "port: 8080", `{"beta": true}`, "app.yaml", "features")
	if strings.Contains(main.Logs, "skip.txt") || strings.Contains(st.Get(t, "fetch").Logs, "e2e-Minio-Secret-1") {
		t.Errorf("main saw:\n%s", main.Logs)
	}
}

// minioService starts MinIO on the network as "minio" and returns the
// environment that gives a client its credentials.
func minioService(t *testing.T, nw string) map[string]string {
	creds := map[string]string{"MINIO_ROOT_USER": "e2e-minio", "MINIO_ROOT_PASSWORD": "e2e-Minio-Secret-1"}
	Service(t, nw, "minio", Container{Name: "minio", Image: images.minio, Env: creds})
	return map[string]string{"AWS_ACCESS_KEY_ID": "e2e-minio", "AWS_SECRET_ACCESS_KEY": "e2e-Minio-Secret-1", "AWS_REGION": "us-east-1"}
}
