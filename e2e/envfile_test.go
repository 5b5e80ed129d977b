//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initbox/initbox/internal/testcorpus"
	"github.com/initbox/initbox/internal/testserver"
)

// docker run --env-file on the real engine reads what fetch --format
// env-file wrote: every value it holds arrives byte for byte in the
// container's environment; the rest was refused by name.
func TestEnvFileInDockerRun(t *testing.T) {
	v := testserver.StartVault(t, testserver.VaultOptions{})
	secret := map[string]any{}
	var names []string
	for i, val := range testcorpus.SecretValues("/nonexistent/executed") {
		name := fmt.Sprintf("V%04d", i)
		secret[name] = val
		names = append(names, name)
	}
	// Vault's JSON holds neither NUL nor invalid UTF-8.
	for n, val := range secret {
		if s := val.(string); strings.IndexByte(s, 0) >= 0 || !isUTF8(s) {
			delete(secret, n)
		}
	}
	if _, err := v.Client().KVv2("secret").Put(t.Context(), "corpus", secret); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var held []string
	for _, n := range names {
		if _, ok := secret[n]; !ok {
			continue
		}
		out := filepath.Join(dir, n+".env")
		cmd := exec.Command(binaryPath(), "fetch", "vault://secret/corpus#"+n, "--out", out, "--format", "env-file", "--log-level", "error")
		cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.RootToken)
		if b, err := cmd.CombinedOutput(); err != nil {
			if !strings.Contains(string(b), "use --format") {
				t.Errorf("%s refused without saying which format can hold it:\n%s", n, b)
			}
			continue
		}
		held = append(held, n)
	}
	all := filepath.Join(dir, "all.env")
	var refs []string
	for _, n := range held {
		refs = append(refs, "vault://secret/corpus#"+n)
	}
	cmd := exec.Command(binaryPath(), append(append([]string{"fetch"}, refs...), "--out", all, "--format", "env-file", "--log-level", "error")...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.RootToken)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetch: %v\n%s", err, b)
	}
	out, err := exec.Command("docker", "run", "--rm", "--env-file", all, images.busybox, "-c", "env -0").Output()
	if err != nil {
		t.Fatalf("docker run --env-file: %v", err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, val, ok := strings.Cut(kv, "="); ok {
			got[k] = val
		}
	}
	for _, n := range held {
		if got[n] != secret[n] {
			t.Errorf("%s: the container has %q, want %q", n, got[n], secret[n])
		}
	}
	t.Logf("%d of %d values arrived byte for byte through docker run --env-file", len(held), len(secret))
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
