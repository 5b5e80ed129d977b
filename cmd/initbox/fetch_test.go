package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/initbox/initbox/internal/testserver"
)

// A canary secret reaches the intended file and no other output: not
// stdout, stderr, the termination message or any other file — in success
// and in failure.
func TestFetchCanaryOnlyInTheOutput(t *testing.T) {
	const canary = "canary-BINARY-5a4b3c"
	v := testserver.StartVault(t, testserver.VaultOptions{})
	if _, err := v.Client().KVv2("secret").Put(t.Context(), "app", map[string]any{"key": canary, "other": "x"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(v.RootToken), 0o600)
	runs := [][]string{
		{"fetch", "vault://secret/app#key", "--out", filepath.Join(dir, "out"), "--receipt", filepath.Join(dir, "receipt.json")},
		{"fetch", "vault://secret/app#missing", "vault://secret/app#key", "--out", filepath.Join(dir, "fail.json")},
		{"fetch", "vault://secret/app", "--out", filepath.Join(dir, "bad.env"), "--format", "dotenv", "--log-format", "json", "--log-level", "debug"},
	}
	for i, args := range runs {
		termLog := filepath.Join(dir, "termination-log")
		os.Remove(termLog)
		cmd := command(t, "fetch-config", args[1:]...)
		cmd.Env = append(cmd.Env, "VAULT_ADDR="+v.Addr, "INITBOX_FETCH_TOKEN_FILE="+tokenFile, "INITBOX_TERMINATION_LOG="+termLog)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if (i == 1) != (err != nil) {
			t.Fatalf("run %d: %v\n%s", i, err, stderr.String())
		}
		tl, _ := os.ReadFile(termLog)
		for name, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "termination message": string(tl)} {
			if strings.Contains(text, canary) {
				t.Errorf("run %d: %s leaks the canary:\n%s", i, name, text)
			}
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		switch filepath.Base(p) {
		case "out":
			if string(b) != canary {
				t.Errorf("out = %q", b)
			}
		case "bad.env":
			// The dotenv run wrote the whole secret on purpose.
		default:
			if strings.Contains(string(b), canary) {
				t.Errorf("canary in %s", p)
			}
		}
		return nil
	})
}

// SIGTERM while Vault is sealed and fetch retries: exit 143, nothing left.
func TestFetchSIGTERM(t *testing.T) {
	v := testserver.StartVault(t, testserver.VaultOptions{})
	v.Seal()
	dir := t.TempDir()
	cmd := command(t, "initbox", "fetch", "vault://secret/app#key", "--out", filepath.Join(dir, "out"), "--timeout", "1m")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.RootToken)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "retrying") {
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(stderr)
	err := cmd.Wait()
	if exitCode(err) != 143 {
		t.Fatalf("exit %d, want 143\n%s", exitCode(err), rest)
	}
	if !strings.Contains(string(rest), "Vault is sealed") {
		t.Errorf("the message should say why it was still waiting:\n%s", rest)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
