package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testserver"
)

// initbox run --watch, the binary against a real Vault: the first passes
// run in order (/readyz 503 until the last is done, and by then every file
// exists); a one-time seed runs once; a new KV version is fetched and the
// render step after it re-renders, the plan's --on-change-url is POSTed
// once; /metrics has a series per step; SIGTERM ends it with exit 0.
func TestRunWatch(t *testing.T) {
	v := testserver.StartVault(t, testserver.VaultOptions{})
	kv := v.Client().KVv2("secret")
	if _, err := kv.Put(t.Context(), "app", map[string]any{"password": "first-pw"}); err != nil {
		t.Fatal(err)
	}
	posts := testnet.RecordPosts(t)

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tpl"), 0o755)
	os.MkdirAll(filepath.Join(dir, "config"), 0o755)
	os.WriteFile(filepath.Join(dir, "tpl/app.conf.tmpl"), []byte("password={{ .Data.db.password }}\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "seed-data"), 0o755)
	os.WriteFile(filepath.Join(dir, "seed-data/index.html"), []byte("hi"), 0o644)
	plan := filepath.Join(dir, "plan.yaml")
	os.WriteFile(plan, []byte(strings.ReplaceAll(`version: 1
timeout: 30s
steps:
  - name: go
    wait: {targets: ["file://DIR/go"], timeout: 20s}
  - name: db secret
    fetch: {refs: ["vault://secret/app"], out: DIR/secrets/db/, format: dir}
  - name: config
    render: {src: DIR/tpl/app.conf.tmpl, out: DIR/config/app.conf, data: "db=DIR/secrets/db/"}
  - name: site
    seed: {source: DIR/seed-data, target: DIR/site, if-empty: true}
`, "DIR", dir)), 0o644)
	health := testnet.FreeAddr(t)
	cmd := command(t, "initbox", "run", "--watch", "--refresh", "1s", "--health-addr", health, "--on-change-url", posts.URL+"/reload", "--on-change-debounce", "1s", plan)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.RootToken)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var log strings.Builder
	var logMu sync.Mutex
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	logged := func() string { logMu.Lock(); defer logMu.Unlock(); return log.String() }
	status := func(path string) (int, string) {
		resp, err := http.Get("http://" + health + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s did not happen; log:\n%s", what, logged())
			}
		}
	}
	eventually("the health endpoint", func() bool { c, _ := status("/healthz"); return c == 200 })
	if c, _ := status("/readyz"); c != http.StatusServiceUnavailable {
		t.Fatalf("readyz while the first step waits: %d, want 503", c)
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	eventually("readiness", func() bool { c, _ := status("/readyz"); return c == 200 })
	conf := filepath.Join(dir, "config/app.conf")
	if b, _ := os.ReadFile(conf); string(b) != "password=first-pw\n" {
		t.Errorf("ready, but the config is %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "site/index.html")); string(b) != "hi" {
		t.Errorf("ready, but the seed is %q", b)
	}

	if _, err := kv.Put(t.Context(), "app", map[string]any{"password": "second-pw"}); err != nil {
		t.Fatal(err)
	}
	eventually("the re-render", func() bool { b, _ := os.ReadFile(conf); return string(b) == "password=second-pw\n" })
	eventually("the reload POST", func() bool { return len(posts.Bodies()) > 0 })
	time.Sleep(2500 * time.Millisecond) // more refreshes: nothing new to tell
	if got := posts.Bodies(); len(got) != 1 || !strings.Contains(got[0], "vault://secret/app") || !strings.Contains(got[0], conf) || strings.Contains(got[0], "pw") {
		t.Errorf("reload POSTs: %q, want one naming the reference and the rendered file (no value)", got)
	}

	_, text := status("/metrics")
	families, err := new(expfmt.TextParser).TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, text)
	}
	ready := map[string]bool{}
	for _, m := range families["initbox_watch_ready"].GetMetric() {
		var key []string
		for _, l := range m.Label {
			key = append(key, l.GetValue())
		}
		ready[strings.Join(key, "/")] = m.GetGauge().GetValue() == 1
	}
	if !ready["run"] || !ready["fetch/db secret"] || !ready["render/config"] || len(ready) != 3 {
		t.Errorf("ready series: %v (the one-time seed and the wait have none)\n%s", ready, text)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	for range lines {
	}
	err = cmd.Wait()
	out := logged()
	if exitCode(err) != 0 {
		t.Errorf("SIGTERM while watching: exit %d, want 0\n%s", exitCode(err), out)
	}
	for _, want := range []string{`"this seed runs once in the watched plan"`, `msg="step watching" name="db secret"`, `msg="plan watching" steps=4 watching=2`, "msg=republished"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw") {
		t.Errorf("a value in the log:\n%s", out)
	}
	if b, _ := os.ReadFile(conf); string(b) != "password=second-pw\n" {
		t.Errorf("after the stop the config is %q", b)
	}
}

// The options that belong to the plan are refused on its steps, before
// anything runs; a step that cannot watch without run --watch is refused.
func TestRunWatchRefusals(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ plan, flag, want string }{
		"watch on a step": {`steps: [{render: {src: DIR/t, out: DIR/o, watch: true}}]`, "", "run the plan with run --watch"},
		"watch: True":     {`steps: [{render: {src: DIR/t, out: DIR/o, watch: True}}]`, "", "run the plan with run --watch"},
		"watch: 1":        {`steps: [{render: {src: DIR/t, out: DIR/o, watch: 1}}]`, "", "run the plan with run --watch"},
		"a step's health": {`steps: [{render: {src: DIR/t, out: DIR/o, health-addr: ":8099"}}]`, "--watch", "health-addr belongs to the plan"},
		"stdout render":   {`steps: [{render: {src: DIR/t, out: "-"}}]`, "--watch", "step 1 (1 of 1, render) is not valid"},
	} {
		p := filepath.Join(dir, "plan.yaml")
		os.WriteFile(filepath.Join(dir, "t"), []byte("x"), 0o644)
		os.WriteFile(p, []byte("version: 1\n"+strings.ReplaceAll(c.plan, "DIR", dir)+"\n"), 0o644)
		args := []string{"run", "--check"}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		out, err := command(t, "initbox", append(args, p)...).CombinedOutput()
		if exitCode(err) != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: exit %d\n%s", name, exitCode(err), out)
		}
		if _, err := os.Stat(filepath.Join(dir, "o")); err == nil {
			t.Errorf("%s: a step ran", name)
		}
	}
}

// The example sidecar plan is valid, with --watch and as a one-shot plan.
func TestRunWatchExample(t *testing.T) {
	plan := filepath.Join("..", "..", "examples", "run", "sidecar.yaml")
	for _, args := range [][]string{{"run", "--check", "--watch", plan}, {"run", "--check", plan}} {
		out, err := command(t, "initbox", args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `msg="plan is valid"`) || !strings.Contains(string(out), "steps=3") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}
