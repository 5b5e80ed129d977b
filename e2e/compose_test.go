//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeTools are the two docker composes users run: Debian's
// docker-compose v1 and docker compose v2 (built from its module by `make
// compose-v2`; what `docker compose` is).
func composeTools(t *testing.T) map[string]string {
	v2 := filepath.Join(repoRoot, "build", "peers", "docker-compose")
	if _, err := os.Stat(v2); err != nil {
		t.Fatalf("no docker compose v2: run `make compose-v2` (it builds build/peers/docker-compose)")
	}
	v1, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatalf("no docker-compose v1: install docker-compose (make deps-test)")
	}
	return map[string]string{"v1": v1, "v2": v2}
}

// eachCompose runs f as a subtest with each compose.
func eachCompose(t *testing.T, f func(t *testing.T, bin string)) {
	for _, name := range []string{"v1", "v2"} {
		bin := composeTools(t)[name]
		t.Run("compose-"+name, func(t *testing.T) { f(t, bin) })
	}
}

// compose runs a docker compose on the example with this run's images under
// a project of its own, removed when the test ends.
type compose struct {
	t       *testing.T
	bin     string
	project string
	file    string
	env     []string
}

func newCompose(t *testing.T, bin string, env ...string) *compose {
	c := &compose{t: t, bin: bin, project: unique("compose"), file: "examples/compose/docker-compose.yml", env: append([]string{
		"INITBOX_IMAGE=" + images.initbox, "INITBOX_BUSYBOX_IMAGE=" + images.busybox, "INITBOX_VAULT_IMAGE=" + images.vault,
		"INITBOX_MINIO_IMAGE=" + images.minio, "INITBOX_TESTBIN_IMAGE=" + images.testbin, "INITBOX_POSTGRES_IMAGE=" + images.postgres,
	}, env...)}
	t.Cleanup(func() { c.run("down", "-v", "--remove-orphans", "--timeout", "0") })
	return c
}

func (c *compose) run(args ...string) (string, error) {
	args = append([]string{"-p", c.project, "-f", filepath.Join(repoRoot, c.file)}, args...)
	cmd := exec.Command(c.bin, args...)
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
	id, err := c.run("ps", "-a", "-q", service)
	if err != nil || strings.TrimSpace(id) == "" {
		return "never started" // v1 does not create it
	}
	// v2 creates every container first; one never started waits as "created".
	if st, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", strings.TrimSpace(id)).Output(); strings.TrimSpace(string(st)) == "created" {
		return "never started"
	}
	out, _ := exec.Command("docker", "wait", strings.TrimSpace(id)).Output()
	return strings.TrimSpace(string(out))
}

// The example in examples/compose runs for real: the app starts only after
// the late api is up, and reaches it on its first try.
func TestComposeExample(t *testing.T) { eachCompose(t, testComposeExample) }

func testComposeExample(t *testing.T, bin string) {
	c := newCompose(t, bin)
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
func TestComposeFailingStepStopsTheChain(t *testing.T) { eachCompose(t, testComposeFailingStep) }

func testComposeFailingStep(t *testing.T, bin string) {
	c := newCompose(t, bin, "DEMO_WAIT_TIMEOUT=1s")
	out, err := c.run("up", "-d")
	if err == nil {
		t.Fatalf("docker-compose up succeeded although wait must time out:\n%s", out)
	}
	// v1: "… exited with code 124"; v2: "service \"wait\" didn't complete successfully: exit 124".
	if !strings.Contains(out, "exited with code 124") && !strings.Contains(out, `"wait" didn't complete successfully: exit 124`) {
		t.Errorf("docker compose does not say which step failed with which code:\n%s", out)
	}
	if code := c.exitCode("app"); code != "never started" {
		t.Errorf("app: %s; it must never start", code)
	}
	logsContain(t, "wait output", c.logs("wait"), "level=ERROR", "exit_code=124", "not ready: tcp://api:8080 (", "; http://api:8080/health.json (")
}

// examples/compose/sidecar: the app waits for the sidecar's health check
// (initbox wait on its /readyz), finds its credentials on the first look,
// and sees them replaced twice while it runs (a 20 s lease at its max TTL);
// the sidecar stays healthy.
func TestComposeSidecar(t *testing.T) { eachCompose(t, testComposeSidecar) }

func testComposeSidecar(t *testing.T, bin string) {
	c := newCompose(t, bin)
	c.file = "examples/compose/sidecar/docker-compose.yml"
	if out, err := c.run("up", "-d", "app"); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	var users []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		users = users[:0]
		for _, l := range strings.Split(c.logs("app"), "\n") {
			if _, rest, ok := strings.Cut(l, "database user "); ok {
				users = append(users, strings.Fields(rest)[0])
			}
		}
		if len(users) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app saw %d users in 90 s, want the credentials replaced twice\napp:\n%s\nsecrets:\n%s", len(users), c.logs("app"), c.logs("secrets"))
		}
		time.Sleep(time.Second)
	}
	if len(slices.Compact(slices.Clone(users))) != len(users) {
		t.Errorf("users repeat: %v", users)
	}
	logsContain(t, "the app's first look", c.logs("app"), "credentials there on the first look: password username")
	id, _ := c.run("ps", "-q", "secrets")
	health, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}} {{.RestartCount}}", strings.TrimSpace(id)).Output()
	if got := strings.TrimSpace(string(health)); got != "healthy 0" {
		t.Errorf("the sidecar: %q, want healthy without a restart", got)
	}
	logsContain(t, "the sidecar", c.logs("secrets"), "msg=republished")
}
