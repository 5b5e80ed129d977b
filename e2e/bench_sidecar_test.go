//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testserver"
)

// The sidecar side by side with Vault Agent (the same Vault binary the
// tests build, `vault agent`): both log in with the same AppRole and keep
// one KV v2 secret in a file (initbox twice: fetch --watch alone, and
// run --watch of a fetch and a render, as the agent renders a template),
// re-read every REFRESH (INITBOX_BENCH_REFRESH,
// default 1m: initbox's default; below watch.RestAfter initbox keeps its
// pages between passes). Measured: RSS and the
// process's own (anonymous) memory once idle, CPU time over the idle
// window (INITBOX_BENCH_IDLE, default 10m), and the time from a new
// version in Vault to the new file, over 5 rotations.
func BenchmarkSidecarVsVaultAgent(b *testing.B) {
	idle := 10 * time.Minute
	if v := os.Getenv("INITBOX_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("INITBOX_BENCH_IDLE=%q: %v", v, err)
		}
		idle = d
	}
	refresh := "1m"
	if r := os.Getenv("INITBOX_BENCH_REFRESH"); r != "" {
		refresh = r
	}
	v := testserver.StartVault(b, testserver.VaultOptions{})
	root := v.Client()
	kv := root.KVv2("secret")
	put := func(pw string) {
		if _, err := kv.Put(b.Context(), "app/db", map[string]any{"password": pw}); err != nil {
			b.Fatal(err)
		}
	}
	put("pw-0")
	if err := root.Sys().EnableAuthWithOptions("approle", &vaultapi.EnableAuthOptions{Type: "approle"}); err != nil {
		b.Fatal(err)
	}
	if err := root.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/app", map[string]any{"token_policies": "app", "token_ttl": "1h"}); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	rid, _ := root.Logical().Read("auth/approle/role/app/role-id")
	os.WriteFile(filepath.Join(dir, "role-id"), []byte(rid.Data["role_id"].(string)), 0o600)
	secretID := func(name string) string {
		s, err := root.Logical().Write("auth/approle/role/app/secret-id", nil)
		if err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s.Data["secret_id"].(string)), 0o600)
		return p
	}
	agentOut, initboxOut := filepath.Join(dir, "agent", "db-password"), filepath.Join(dir, "initbox", "db-password")
	os.MkdirAll(filepath.Dir(agentOut), 0o755)
	os.MkdirAll(filepath.Dir(initboxOut), 0o755)
	hcl := fmt.Sprintf(`
vault { address = %q }
auto_auth {
  method "approle" {
    config = { role_id_file_path = %q, secret_id_file_path = %q, remove_secret_id_file_after_reading = false }
  }
}
template_config { static_secret_render_interval = %q }
template {
  destination = %q
  contents    = "{{ with secret \"secret/data/app/db\" }}{{ .Data.data.password }}{{ end }}"
}
`, v.Addr, filepath.Join(dir, "role-id"), secretID("agent-secret-id"), refresh, agentOut)
	os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(hcl), 0o600)
	start := func(name string, cmd *exec.Cmd) *exec.Cmd {
		logs := &testlog.Buffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			if b.Failed() {
				b.Logf("%s:\n%s", name, logs)
			}
		})
		return cmd
	}
	agent := start("vault agent", exec.Command(testserver.VaultBinary(b), "agent", "-config", filepath.Join(dir, "agent.hcl")))
	ib := exec.Command(binaryPath(), "fetch", "vault://secret/app/db#password", "--out", initboxOut, "--vault-auth", "approle",
		"--vault-role-id-file", filepath.Join(dir, "role-id"), "--vault-secret-id-file", secretID("initbox-secret-id"),
		"--watch", "--refresh", refresh)
	ib.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr)
	ib = start("initbox", ib)
	// Vault Agent renders a template: so does this plan, the secret fetched
	// to a JSON file, then rendered into the file the app reads.
	runDir := filepath.Join(dir, "initbox-run")
	os.MkdirAll(filepath.Join(runDir, "secrets"), 0o755)
	runOut := filepath.Join(runDir, "db-password")
	os.WriteFile(filepath.Join(runDir, "db-password.tmpl"), []byte("{{ .Data.db.password }}"), 0o644)
	os.WriteFile(filepath.Join(runDir, "plan.yaml"), []byte(fmt.Sprintf(`version: 1
steps:
  - fetch: {refs: ["vault://secret/app/db"], out: %[1]s/secrets/db.json, vault-auth: approle, vault-role-id-file: %[2]s, vault-secret-id-file: %[3]s}
  - render: {src: %[1]s/db-password.tmpl, out: %[4]s, data: "db=%[1]s/secrets/db.json"}
`, runDir, filepath.Join(dir, "role-id"), secretID("initbox-run-secret-id"), runOut)), 0o644)
	run := exec.Command(binaryPath(), "run", "--watch", "--refresh", refresh, filepath.Join(runDir, "plan.yaml"))
	run.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr)
	run = start("initbox run", run)
	procs := map[string]*exec.Cmd{"vault-agent": agent, "initbox": ib, "initbox-run": run}
	outs := map[string]string{"vault-agent": agentOut, "initbox": initboxOut, "initbox-run": runOut}
	waitFile := func(path, want string, limit time.Duration) time.Duration {
		t0 := time.Now()
		for {
			if got, _ := os.ReadFile(path); string(got) == want {
				return time.Since(t0)
			}
			if time.Since(t0) > limit {
				b.Fatalf("%s: no %q after %s", path, want, limit)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, p := range outs {
		waitFile(p, "pw-0", 30*time.Second)
	}
	// Idle: a minute to settle, then the window.
	time.Sleep(time.Minute)
	cpu0 := map[string]time.Duration{}
	for name, c := range procs {
		cpu0[name] = cpuTime(b, c.Process.Pid)
	}
	time.Sleep(idle)
	for name, c := range procs {
		rss, anon := rssKiB(b, c.Process.Pid)
		b.ReportMetric(float64(rss)/1024, name+"-idle-RSS-MiB")
		b.ReportMetric(float64(anon)/1024, name+"-idle-anon-MiB")
		b.ReportMetric((cpuTime(b, c.Process.Pid)-cpu0[name]).Seconds()*1000, name+"-CPU-ms-per-"+idle.String())
	}
	// Rotation: a new version, then the time until each file has it (at
	// most one refresh).
	lat := map[string][]time.Duration{}
	for i := 1; i <= 5; i++ {
		pw := "pw-" + strconv.Itoa(i)
		put(pw)
		t0 := time.Now()
		for name, p := range outs {
			waitFile(p, pw, 3*time.Minute)
			lat[name] = append(lat[name], time.Since(t0))
		}
		time.Sleep(time.Duration(1+i%3) * time.Second) // not in step with the polls
	}
	for name, l := range lat {
		b.ReportMetric(ms(median(l)), name+"-rotation-median-ms")
		b.ReportMetric(ms(maxOf(l)), name+"-rotation-max-ms")
	}
}

// rssKiB is a process's VmRSS and RssAnon.
func rssKiB(b *testing.B, pid int) (rss, anon int) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss, _ = strconv.Atoi(f[1])
		}
		if len(f) >= 2 && f[0] == "RssAnon:" {
			anon, _ = strconv.Atoi(f[1])
		}
	}
	return rss, anon
}

// cpuTime is a process's user and system time (with its threads).
func cpuTime(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
