//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// compose runs docker-compose on the example with this run's images under a
// project of its own, removed when the test ends.
type compose struct {
	t       *testing.T
	project string
	env     []string
}

func newCompose(t *testing.T, env ...string) *compose {
	c := &compose{t: t, project: unique("compose"), env: append([]string{
		"INITBOX_IMAGE=" + images.initbox, "INITBOX_BUSYBOX_IMAGE=" + images.busybox, "INITBOX_VAULT_IMAGE=" + images.vault,
		"INITBOX_MINIO_IMAGE=" + images.minio, "INITBOX_TESTBIN_IMAGE=" + images.testbin,
	}, env...)}
	t.Cleanup(func() { c.run("down", "-v", "--remove-orphans", "--timeout", "0") })
	return c
}

func (c *compose) run(args ...string) (string, error) {
	args = append([]string{"-p", c.project, "-f", filepath.Join(repoRoot, "examples/compose/docker-compose.yml")}, args...)
	cmd := exec.Command("docker-compose", args...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *compose) logs(service string) string {
	out, err := c.run("logs", "--no-color", "--no-log-prefix", service)
	if err != nil {
		c.t.Fatalf("logs %s: %v\n%s", service, err, out)
	}
	return out
}

func (c *compose) exitCode(service string) string {
	id, err := c.run("ps", "-q", service)
	if err != nil || strings.TrimSpace(id) == "" {
		return "never created"
	}
	out, _ := exec.Command("docker", "wait", strings.TrimSpace(id)).Output()
	return strings.TrimSpace(string(out))
}

// The example in examples/compose runs for real: the app starts only after
// the late api is up, and reaches it on its first try.
func TestComposeExample(t *testing.T) {
	c := newCompose(t)
	if out, err := c.run("up", "-d"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	if code := c.exitCode("app"); code != "0" {
		t.Fatalf("app exited %s:\n%s\n%s", code, c.logs("app"), c.logs("wait"))
	}
	app := c.logs("app")
	logsContain(t, "app output", app, "app: started at", "the api has been up since", `api health on the first try: {"status":"UP"`,
		"app: received /secrets/db.env (mode 400, owner 1000:1000)", "DB_USER=app, DB_PASSWORD has 14 characters (not shown)",
		"from Vault secret version 1", "app: config rendered from S3 values and templates: ./app.yaml ./nginx/site.conf",
		`app: /config/app.yaml says: listen: :8080 features: ["search","export"] database: db.internal:5432 region: eu-west-1`,
		"app: /config/nginx/site.conf says: server { listen 8080; server_name $host; }",
		"app: site seeded from the archive: ./assets/site.css ./index.html")
	if strings.Contains(c.logs("fetch"), "s3cr3t-Demo-pw") {
		t.Error("fetch printed the secret")
	}
	logsContain(t, "wait output", c.logs("wait"), "target ready", "target=http://api:8080/health.json", "msg=ready")
	if c.exitCode("wait") != "0" {
		t.Error("wait did not exit 0")
	}
}

// A failing step stops the chain: the app never starts and docker-compose
// reports which step failed and with which code.
func TestComposeFailingStepStopsTheChain(t *testing.T) {
	c := newCompose(t, "DEMO_WAIT_TIMEOUT=1s")
	out, err := c.run("up", "-d")
	if err == nil {
		t.Fatalf("docker-compose up succeeded although wait must time out:\n%s", out)
	}
	logsContain(t, "docker-compose output", out, "exited with code 124")
	if code := c.exitCode("app"); code != "never created" {
		t.Errorf("app: %s; it must never start", code)
	}
	logsContain(t, "wait output", c.logs("wait"), "level=ERROR", "exit_code=124", "not ready: tcp://api:8080 (", "; http://api:8080/health.json (")
}
