package k8s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/initbox/initbox/internal/redact"
)

// execConfig is a kubeconfig user's exec credential plugin (what every
// EKS, GKE and AKS kubeconfig has): client.authentication.k8s.io/v1 or
// v1beta1.
type execConfig struct {
	APIVersion string   `yaml:"apiVersion"`
	Command    string   `yaml:"command"`
	Args       []string `yaml:"args"`
	Env        []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	InstallHint        string `yaml:"installHint"`
	ProvideClusterInfo bool   `yaml:"provideClusterInfo"`
	InteractiveMode    string `yaml:"interactiveMode"`
}

// Bounds on a plugin: it is someone else's program.
const (
	execTimeout   = time.Minute
	maxExecOutput = 1 << 20
)

// execPlugin runs the plugin when a credential is needed and keeps what it
// gave until its expirationTimestamp (or, without one, until the server
// refuses it).
type execPlugin struct {
	cfg     execConfig
	user    string // for messages
	cluster map[string]any

	mu      sync.Mutex
	token   string
	cert    *tls.Certificate
	expires time.Time // zero: no expiry given
	valid   bool
}

var execAPIVersions = []string{"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}

func newExecPlugin(cfg execConfig, user string, cluster map[string]any) (*execPlugin, error) {
	if cfg.Command == "" {
		return nil, fmt.Errorf("user %s: exec has no command", user)
	}
	known := false
	for _, v := range execAPIVersions {
		known = known || cfg.APIVersion == v
	}
	if !known {
		return nil, fmt.Errorf("user %s: exec apiVersion %q: initbox runs %s", user, cfg.APIVersion, strings.Join(execAPIVersions, " and "))
	}
	if cfg.InteractiveMode == "Always" {
		return nil, fmt.Errorf("user %s: exec interactiveMode Always: a wait runs without a terminal; use a plugin that needs none", user)
	}
	return &execPlugin{cfg: cfg, user: user, cluster: cluster}, nil
}

// credential returns the plugin's current token or client certificate,
// running it if there is none or it expired.
func (p *execPlugin) credential(ctx context.Context) (string, *tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.valid && (p.expires.IsZero() || time.Now().Before(p.expires)) {
		return p.token, p.cert, nil
	}
	if err := p.run(ctx); err != nil {
		return "", nil, err
	}
	return p.token, p.cert, nil
}

// forget drops the credential: the server refused it (401).
func (p *execPlugin) forget() {
	p.mu.Lock()
	p.valid = false
	p.mu.Unlock()
}

func (p *execPlugin) run(ctx context.Context) error {
	// A relative command with a slash was made absolute against its
	// kubeconfig's directory (readKubeconfig); a bare name is found in PATH.
	cmdPath := p.cfg.Command
	spec := map[string]any{"interactive": false}
	if p.cfg.ProvideClusterInfo {
		spec["cluster"] = p.cluster
	}
	info, _ := json.Marshal(map[string]any{"apiVersion": p.cfg.APIVersion, "kind": "ExecCredential", "spec": spec})
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cmdPath, p.cfg.Args...)
	cmd.Env = os.Environ()
	for _, e := range p.cfg.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	cmd.Env = append(cmd.Env, "KUBERNETES_EXEC_INFO="+string(info))
	stdout, stderr := &capped{max: maxExecOutput}, &capped{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	name := filepath.Base(p.cfg.Command)
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		hint := p.cfg.InstallHint
		if hint == "" {
			hint = "install it, or give the kubeconfig a token"
		}
		return fmt.Errorf("user %s: exec credential plugin %s: not found: %s", p.user, name, strings.TrimSpace(hint))
	case ctx.Err() != nil:
		return fmt.Errorf("user %s: exec credential plugin %s did not answer within %v", p.user, name, execTimeout)
	case stdout.over:
		return fmt.Errorf("user %s: exec credential plugin %s wrote more than %d bytes; refused", p.user, name, maxExecOutput)
	case err != nil:
		return fmt.Errorf("user %s: exec credential plugin %s failed (%v): %s", p.user, name, err, lastLine(redact.Scrub(stderr.String())))
	}
	var out struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Status     struct {
			Token                 string `json:"token"`
			ClientCertificateData string `json:"clientCertificateData"`
			ClientKeyData         string `json:"clientKeyData"`
			ExpirationTimestamp   string `json:"expirationTimestamp"`
		} `json:"status"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Kind != "ExecCredential" {
		return fmt.Errorf("user %s: exec credential plugin %s wrote no ExecCredential on its output", p.user, name)
	}
	if out.APIVersion != p.cfg.APIVersion {
		return fmt.Errorf("user %s: exec credential plugin %s answered in %s, asked for %s", p.user, name, out.APIVersion, p.cfg.APIVersion)
	}
	st := out.Status
	redact.Register(st.Token)
	redact.Register(st.ClientKeyData)
	p.token, p.cert, p.expires = st.Token, nil, time.Time{}
	if st.ClientCertificateData != "" || st.ClientKeyData != "" {
		pair, err := tls.X509KeyPair([]byte(st.ClientCertificateData), []byte(st.ClientKeyData))
		if err != nil {
			return fmt.Errorf("user %s: exec credential plugin %s: client certificate and key: %v", p.user, name, err)
		}
		p.cert = &pair
	}
	if p.token == "" && p.cert == nil {
		return fmt.Errorf("user %s: exec credential plugin %s gave neither a token nor a client certificate", p.user, name)
	}
	if st.ExpirationTimestamp != "" {
		t, err := time.Parse(time.RFC3339, st.ExpirationTimestamp)
		if err != nil {
			return fmt.Errorf("user %s: exec credential plugin %s: expirationTimestamp %q is not RFC 3339", p.user, name, st.ExpirationTimestamp)
		}
		p.expires = t
	}
	p.valid = true
	return nil
}

// capped keeps up to max bytes; past them a write fails (the plugin sees
// a broken pipe) and over is set.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		c.over = true
		return 0, errors.New("too much output")
	}
	return c.Buffer.Write(p)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "it wrote nothing on stderr"
	}
	return s
}
