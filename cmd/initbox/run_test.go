package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// initbox run: steps run in order in one process; the first failure stops
// the plan with its exit code, naming the step; --check validates every
// step's options and runs nothing.
func TestRunPlan(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tpl"), 0o755)
	os.WriteFile(filepath.Join(dir, "tpl/app.conf.tmpl"), []byte("region={{ .Env.APP_REGION }}\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "seed-data"), 0o755)
	os.WriteFile(filepath.Join(dir, "seed-data/index.html"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
	plan := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(strings.ReplaceAll(text, "DIR", dir)), 0o644)
		return p
	}
	good := plan("good.yaml", `version: 1
timeout: 30s
steps:
  - name: marker file
    wait: {targets: ["file://DIR/ready"], timeout: 5s}
  - render: {src: DIR/tpl/, out: DIR/config/, env-prefix: APP_}
  - name: site
    seed: {source: DIR/seed-data, target: DIR/site, if-empty: true}
`)
	cmd := command(t, "initbox", "run", good)
	cmd.Env = append(cmd.Env, "APP_REGION=eu-west-1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config/app.conf")); string(b) != "region=eu-west-1\n" {
		t.Errorf("render step: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "site/index.html")); string(b) != "hi" {
		t.Errorf("seed step: %q", b)
	}
	for _, want := range []string{`msg=step n=1/3 name="marker file" command=wait`, "msg=step n=2/3", `name=site command=seed`, "msg=\"plan done\" steps=3"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	failing := plan("failing.yaml", `version: 1
steps:
  - name: never ready
    wait: {targets: ["file://DIR/never"], timeout: 300ms}
  - seed: {source: DIR/seed-data, target: DIR/not-reached}
`)
	out, err = command(t, "initbox", "run", failing).CombinedOutput()
	if exitCode(err) != 124 || !strings.Contains(string(out), "never ready (1 of 2, wait) failed with exit 124") {
		t.Errorf("failing step: exit %d\n%s", exitCode(err), out)
	}
	if _, err := os.Stat(filepath.Join(dir, "not-reached")); err == nil {
		t.Error("a step after the failure ran")
	}

	bad := plan("bad.yaml", `version: 1
steps:
  - seed: {source: DIR/seed-data, target: DIR/checked}
  - render: {src: DIR/tpl/, out: DIR/x/, no-such-flag: 1}
`)
	out, err = command(t, "initbox", "run", "--check", bad).CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), "no-such-flag") || !strings.Contains(string(out), "step 2 (2 of 2, render) is not valid") {
		t.Errorf("--check of a bad plan: exit %d\n%s", exitCode(err), out)
	}
	if _, err := os.Stat(filepath.Join(dir, "checked")); err == nil {
		t.Error("--check ran a step")
	}
	if out, err := command(t, "initbox", "run", "--check", good).CombinedOutput(); err != nil || !strings.Contains(string(out), "plan is valid") {
		t.Errorf("--check of a good plan: %v\n%s", err, out)
	}
}
