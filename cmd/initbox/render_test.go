package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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

// The garbage collector waits for the floor (internal/gcfloor, set in
// app.Main): rendering 1,000 templates, which collects four times under
// Go's default policy, collects not at all; GOGC set by the user wins.
func TestRenderBelowTheGCFloorNeverCollects(t *testing.T) {
	dir := t.TempDir()
	src, vals := filepath.Join(dir, "src"), filepath.Join(dir, "v.yaml")
	os.MkdirAll(src, 0o755)
	os.WriteFile(vals, []byte("app: {name: shop}\nenv: {A: a, B: b, C: c, D: d}\n"), 0o644)
	for i := range 1000 {
		body := fmt.Sprintf("name: {{ .Values.app.name }}-%d\nenv:\n{{- range $k, $v := .Values.env }}\n  {{ $k }}: %q\n{{- end }}\n", i, "{{ $v }}")
		os.WriteFile(filepath.Join(src, fmt.Sprintf("c%04d.yaml.tmpl", i)), []byte(body), 0o644)
	}
	collections := func(env ...string) int {
		cmd := command(t, "initbox", "render", src, "--values", vals, "--out", filepath.Join(t.TempDir(), "out")+"/")
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
			return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") || strings.HasPrefix(kv, "GODEBUG=")
		})
		cmd.Env = append(cmd.Env, append(env, "GODEBUG=gctrace=1")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("render: %v\n%s", err, out)
		}
		n := 0
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, "gc ") {
				n++
			}
		}
		return n
	}
	if n := collections("GOGC=100"); n == 0 {
		t.Fatal("with GOGC=100 the render did not collect: the workload is too small to show the floor")
	}
	if n := collections(); n != 0 {
		t.Fatalf("the render collected %d times below the GC floor", n)
	}
}
