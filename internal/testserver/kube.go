package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testpki"
)

// Kube is a real Kubernetes control plane — etcd and kube-apiserver built
// from their modules by `make servers` — on loopback ports, with static
// bearer tokens: "admin" (system:masters) and "limited" (no rights). No
// controller-manager, scheduler or kubelet: what the objects' status says
// is what a test writes there, through the API's status subresource, as a
// controller would.
type Kube struct {
	t          testing.TB
	dir        string
	URL        string // https://127.0.0.1:PORT
	CAFile     string
	AdminToken string
	// LimitedToken is a user with no rights: RBAC refuses it (403).
	LimitedToken string
	pki          *testpki.PKI
	etcd, api    *proc
	etcdURL      string
	port         int
	client       *http.Client
}

// proc is a server process and its logs.
type proc struct {
	p      *os.Process
	exited chan struct{}
	logs   *testlog.Buffer
}

func startProc(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	pr := &proc{logs: &testlog.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pr.logs, pr.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", filepath.Base(bin), err)
	}
	pr.p = cmd.Process
	go func() { cmd.Wait(); close(pr.exited) }()
	return pr
}

func (pr *proc) stop() {
	if pr == nil || pr.p == nil {
		return
	}
	pr.p.Signal(syscall.SIGTERM)
	select {
	case <-pr.exited:
	case <-time.After(20 * time.Second):
		pr.p.Kill()
		<-pr.exited
	}
	pr.p = nil
}

// KubeBinary finds a control-plane binary built by `make servers`:
// $INITBOX_KUBE_DIR/NAME, else build/kube/NAME above the working directory.
func KubeBinary(t testing.TB, name string) string {
	t.Helper()
	Needs(t, "a Kubernetes control plane (make servers)")
	if d := os.Getenv("INITBOX_KUBE_DIR"); d != "" {
		return filepath.Join(d, name)
	}
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(d, "build", "kube", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
	}
	t.Fatalf("no %s: run `make servers` (it builds build/kube/), or set INITBOX_KUBE_DIR", name)
	return ""
}

// StartKube starts etcd and kube-apiserver; both stop when the test ends.
func StartKube(t testing.TB) *Kube {
	t.Helper()
	k := &Kube{t: t, dir: t.TempDir(), port: freePort(t), AdminToken: "admin-Token-7f3a9c", LimitedToken: "limited-Token-2b8e1d"}
	k.URL = "https://127.0.0.1:" + strconv.Itoa(k.port)
	// 10.96.0.1 is the kubernetes Service's address, which the pods of a
	// KubeNode reach (StartNode relays it).
	k.pki = testpki.New(t, "127.0.0.1", "localhost", "kubernetes.default.svc", "kubernetes.default", "10.96.0.1")
	k.CAFile = k.pki.CAFile
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(k.CAFile)
	pool.AppendCertsFromPEM(ca)
	k.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// The service accounts' signing key.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(filepath.Join(k.dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(k.dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	os.WriteFile(filepath.Join(k.dir, "tokens.csv"), []byte(
		k.AdminToken+`,admin,admin-uid,"system:masters"`+"\n"+k.LimitedToken+",limited,limited-uid\n"), 0o600)

	peer := freePort(t)
	k.etcdURL = "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	k.etcd = startProc(t, KubeBinary(t, "etcd"), "--name", "default", "--data-dir", filepath.Join(k.dir, "etcd"),
		"--listen-client-urls", k.etcdURL, "--advertise-client-urls", k.etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer), "--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer),
		"--initial-cluster", "default=http://127.0.0.1:"+strconv.Itoa(peer), "--log-level", "warn")
	t.Cleanup(func() { k.etcd.stop() })
	k.StartAPIServer()
	t.Cleanup(k.StopAPIServer)
	return k
}

// StartAPIServer starts (or restarts) kube-apiserver and waits until it is
// ready (/readyz as admin) and its default service account machinery works.
func (k *Kube) StartAPIServer() {
	k.t.Helper()
	k.api = startProc(k.t, KubeBinary(k.t, "kube-apiserver"),
		"--etcd-servers", k.etcdURL,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(k.port),
		// Not loopback: the API server refuses to publish a loopback
		// address as the kubernetes Service's endpoint. Nothing is sent there.
		"--advertise-address", "192.0.2.10",
		"--tls-cert-file", k.pki.ServerCert, "--tls-private-key-file", k.pki.ServerKey,
		"--client-ca-file", k.pki.CAFile,
		"--token-auth-file", filepath.Join(k.dir, "tokens.csv"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(k.dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(k.dir, "sa.key"),
		"--api-audiences", "https://kubernetes.default.svc,vault",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--authorization-mode", "RBAC",
		"--cert-dir", filepath.Join(k.dir, "certs"),
		"--enable-priority-and-fairness=false",
		"--v", "0")
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, _, err := k.do("GET", "/readyz", nil)
		if err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-k.api.exited:
			k.t.Fatalf("kube-apiserver exited:\n%s", tail(k.api.logs.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kube-apiserver not ready after 90 s (last: %d %v):\n%s", code, err, tail(k.api.logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StopAPIServer stops kube-apiserver (etcd keeps the objects).
func (k *Kube) StopAPIServer() { k.api.stop() }

// Logs are the API server's logs.
func (k *Kube) Logs() string { return k.api.logs.String() }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (k *Kube) do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+k.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Do makes an admin request and fails the test unless it succeeds (2xx);
// it returns the answer's body.
func (k *Kube) Do(method, path string, body any) []byte {
	k.t.Helper()
	code, b, err := k.do(method, path, body)
	if err != nil || code/100 != 2 {
		k.t.Fatalf("%s %s: %d %v: %s", method, path, code, err, b)
	}
	return b
}

// Create posts obj to the collection at path.
func (k *Kube) Create(path string, obj any) { k.t.Helper(); k.Do(http.MethodPost, path, obj) }

// SetStatus merge-patches the status subresource of the object at path, as
// its controller would.
func (k *Kube) SetStatus(path string, status any) {
	k.t.Helper()
	k.Do(http.MethodPatch, path+"/status", map[string]any{"status": status})
}

// Namespace creates a namespace labelled for the restricted Pod Security
// level.
func (k *Kube) Namespace(name string) {
	k.t.Helper()
	k.Create("/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": name, "labels": map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}})
}

// Kubeconfig writes a kubeconfig for the server with token (and
// namespace) and returns its path; server overrides the URL (a proxy).
func (k *Kube) Kubeconfig(token, namespace, server string) string {
	k.t.Helper()
	if server == "" {
		server = k.URL
	}
	ca, _ := os.ReadFile(k.CAFile)
	path := filepath.Join(k.t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n    token: %s\ncontexts:\n- name: t\n  context: {cluster: c, user: u, namespace: %s}\n",
		server, base64.StdEncoding.EncodeToString(ca), token, namespace)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return path
}

// Addr is the API server's host:port.
func (k *Kube) Addr() string { return strings.TrimPrefix(k.URL, "https://") }

// ServiceAccountToken creates the service account ns/name if needed and
// returns a token for it from the TokenRequest API (what the kubelet
// projects into a pod), valid for audiences.
func (k *Kube) ServiceAccountToken(ns, name string, audiences ...string) string {
	k.t.Helper()
	code, _, err := k.do(http.MethodGet, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+name, nil)
	if err == nil && code == http.StatusNotFound {
		k.Create("/api/v1/namespaces/"+ns+"/serviceaccounts", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name}})
	}
	b := k.Do(http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+name+"/token", map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{"audiences": audiences, "expirationSeconds": 3600}})
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || tr.Status.Token == "" {
		k.t.Fatalf("TokenRequest for %s/%s: %v: %s", ns, name, err, b)
	}
	return tr.Status.Token
}
