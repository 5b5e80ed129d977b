package testserver

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/initbox/initbox/internal/testlog"
)

// VaultOptions shape the test server.
type VaultOptions struct {
	// TLS serves HTTPS with a CA Vault generates (CAFile).
	TLS bool
	// Addr is where it listens (host:port; default a free loopback port);
	// TLSNames are more names its certificate is for.
	Addr     string
	TLSNames []string
}

// Vault is a dev-mode Vault server: in memory, unsealed, KV v2 at secret/,
// root token RootToken.
type Vault struct {
	t         testing.TB
	Addr      string // http(s)://127.0.0.1:PORT
	RootToken string
	UnsealKey string
	CAFile    string // with TLS
	proc      *os.Process
	exited    chan struct{}
	logs      *testlog.Buffer
}

// VaultBinary finds the Vault built by `make servers`: $INITBOX_VAULT_BIN,
// else build/servers/vault above the working directory.
func VaultBinary(t testing.TB) string {
	t.Helper()
	Needs(t, "Vault (make servers)")
	if p := os.Getenv("INITBOX_VAULT_BIN"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(d, "build", "servers", "vault")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
	}
	t.Fatalf("no Vault binary: run `make servers` (it builds build/servers/vault from e2e/servers), or set INITBOX_VAULT_BIN")
	return ""
}

var unsealRE = regexp.MustCompile(`Unseal Key: (\S+)`)

// StartVault starts `vault server -dev`; it is stopped when the test ends.
func StartVault(t testing.TB, o VaultOptions) *Vault {
	t.Helper()
	bin := VaultBinary(t)
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	dir := t.TempDir()
	v := &Vault{t: t, RootToken: "root-Token-Test", logs: &testlog.Buffer{}}
	args := []string{"server", "-dev", "-dev-root-token-id=" + v.RootToken, "-dev-listen-address=" + addr, "-dev-no-store-token"}
	scheme := "http"
	if o.TLS {
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+dir)
		for _, n := range o.TLSNames {
			args = append(args, "-dev-tls-san="+n)
		}
		scheme = "https"
		v.CAFile = filepath.Join(dir, "vault-ca.pem")
	}
	v.Addr = scheme + "://" + addr
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "VAULT_ADDR=", "VAULT_TOKEN=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v.proc, v.exited = cmd.Process, make(chan struct{})
	keyCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			v.logs.Write([]byte(line + "\n"))
			if m := unsealRE.FindStringSubmatch(line); m != nil {
				keyCh <- m[1]
			}
		}
		cmd.Wait()
		close(v.exited)
	}()
	t.Cleanup(v.Stop)
	select {
	case v.UnsealKey = <-keyCh:
	case <-v.exited:
		t.Fatalf("vault exited:\n%s", v.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("vault did not start:\n%s", v.logs.String())
	}
	// Ready when the root token works.
	c := v.Client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Sys().Health(); err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault not healthy:\n%s", v.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns an API client with the root token, for setting up tests.
func (v *Vault) Client() *api.Client {
	v.t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	if v.CAFile != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.CAFile}); err != nil {
			v.t.Fatal(err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		v.t.Fatal(err)
	}
	c.SetToken(v.RootToken)
	return c
}

// Seal seals the server: every request gets 503 until Unseal.
func (v *Vault) Seal() {
	v.t.Helper()
	if err := v.Client().Sys().SealWithContext(context.Background()); err != nil {
		v.t.Fatal(err)
	}
}

// Unseal unseals the server with its key.
func (v *Vault) Unseal() error {
	_, err := v.Client().Sys().Unseal(v.UnsealKey)
	return err
}

// Stop stops the server.
func (v *Vault) Stop() {
	if v.proc == nil {
		return
	}
	v.proc.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
	case <-time.After(20 * time.Second):
		v.proc.Kill()
		<-v.exited
	}
	v.proc = nil
}

// Logs returns the server's output.
func (v *Vault) Logs() string { return v.logs.String() }
