//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The recipes (docs/recipes.md) are copy-pasteable: every Kubernetes block
// decodes strictly and passes the manifest checks, every compose block
// passes `docker-compose config`, and every initbox step's arguments pass
// the commands' own validation.
func TestRecipes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "recipes.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1)
	var k8sBlocks, composeBlocks int
	for i, m := range blocks {
		block := m[1]
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			t.Fatalf("recipe block %d: %v\n%s", i+1, err, block)
		}
		switch {
		case doc["apiVersion"] != nil:
			k8sBlocks++
			where := fmt.Sprintf("recipe block %d", i+1)
			all := decodeManifests(t, where, []byte(block))
			for _, m := range all {
				if spec, ok := podSpec(m); ok {
					checkPodSpec(t, where, spec)
					checkArgs(t, where, spec)
				}
			}
			checkRBAC(t, all)
		case doc["services"] != nil:
			composeBlocks++
			checkComposeRecipe(t, i+1, block, doc)
		default:
			t.Errorf("recipe block %d is neither a manifest nor a compose file:\n%s", i+1, block)
		}
	}
	if k8sBlocks < 4 || composeBlocks < 4 {
		t.Errorf("%d Kubernetes and %d compose recipes, want at least 4 each", k8sBlocks, composeBlocks)
	}
}

func checkComposeRecipe(t *testing.T, n int, block string, doc map[string]any) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"docker-compose.yml": block, "git-token": "", "templates/.keep": ""})
	for name, bin := range composeTools(t) {
		cmd := exec.Command(bin, "-p", "recipe", "-f", filepath.Join(dir, "docker-compose.yml"), "config", "-q")
		cmd.Dir = dir
		// The variables a user would have in the shell or .env.
		cmd.Env = append(os.Environ(), "PGPASSWORD=x", "VAULT_TOKEN=x", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("recipe block %d: docker compose %s config: %v\n%s", n, name, err, out)
		}
	}
	services, _ := doc["services"].(map[string]any)
	for name, s := range services {
		svc, _ := s.(map[string]any)
		if img, _ := svc["image"].(string); !strings.HasPrefix(img, "initbox") {
			continue
		}
		list, ok := svc["command"].([]any)
		if !ok || len(list) == 0 {
			t.Errorf("recipe block %d: %s: want command as a list [COMMAND, ...]", n, name)
			continue
		}
		var args []string
		for _, a := range list {
			args = append(args, fmt.Sprint(a))
		}
		checkStep(t, fmt.Sprintf("recipe block %d: %s", n, name), args)
	}
}
