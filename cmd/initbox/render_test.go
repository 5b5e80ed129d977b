package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SIGKILL while a render is staged (its --check is running): the target
// keeps the old complete set; the next run publishes the new one and leaves
// one version.
func TestRenderKilledMidRender(t *testing.T) {
	dir := t.TempDir()
	src, out, vals := filepath.Join(dir, "src"), filepath.Join(dir, "out"), filepath.Join(dir, "v.yaml")
	os.MkdirAll(src, 0o755)
	for i := range 50 {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d.conf.tmpl", i)), []byte("v={{ .Values.v }}\n"), 0o644)
	}
	render := func(args ...string) *exec.Cmd {
		return command(t, "initbox", append([]string{"render", src, "--out", out + "/", "--values", vals}, args...)...)
	}
	os.WriteFile(vals, []byte("v: old\n"), 0o644)
	if b, err := render().CombinedOutput(); err != nil {
		t.Fatalf("first render: %v\n%s", err, b)
	}
	os.WriteFile(vals, []byte("v: new\n"), 0o644)
	marker := filepath.Join(dir, "checking")
	cmd := render("--check", "sh -c 'touch "+marker+"; sleep 5' {{.Dir}}")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the check never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	check := func(want string) {
		t.Helper()
		for i := range 50 {
			if b, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("f%02d.conf", i))); err != nil || string(b) != "v="+want+"\n" {
				t.Fatalf("f%02d.conf = %q, %v; want v=%s everywhere", i, b, err, want)
			}
		}
	}
	check("old")
	if b, err := render().CombinedOutput(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, b)
	}
	check("new")
	versions := versionDirs(t, out)
	if versions != 1 {
		t.Errorf("%d version directories after the re-run, want 1", versions)
	}
}
