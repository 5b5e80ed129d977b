package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testlog"
)

// MinIOOptions shape the test server.
type MinIOOptions struct {
	// TLSCert and TLSKey serve HTTPS (SSE-C needs it); the test's CA must
	// sign them.
	TLSCert, TLSKey, TLSCA string
	// Addr is where it listens (host:port); default a free loopback port.
	Addr string
}

// MinIO is a MinIO server on a free loopback port, on one local drive.
type MinIO struct {
	t               testing.TB
	bin, data, cert string
	Endpoint        string // http(s)://127.0.0.1:PORT
	addr            string
	opts            MinIOOptions
	proc            *os.Process
	exited          chan struct{}
	logs            *testlog.Buffer
}

// MinIO's root credentials in tests.
const (
	MinIOUser     = "minio-admin"
	MinIOPassword = "minio-Secret-Key-123"
)

// MinIOBinary finds the MinIO built by `make servers`: $INITBOX_MINIO_BIN,
// else build/servers/minio above the working directory.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	Needs(t, "MinIO (make servers)")
	if p := os.Getenv("INITBOX_MINIO_BIN"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(d, "build", "servers", "minio")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
	}
	t.Fatalf("no MinIO binary: run `make servers` (it builds build/servers/minio), or set INITBOX_MINIO_BIN")
	return ""
}

// StartMinIO starts a MinIO server; it is stopped when the test ends.
func StartMinIO(t testing.TB, o MinIOOptions) *MinIO {
	t.Helper()
	m := &MinIO{t: t, bin: MinIOBinary(t), data: t.TempDir(), addr: o.Addr, opts: o}
	if m.addr == "" {
		m.addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	scheme := "http"
	if o.TLSCert != "" {
		m.cert = t.TempDir()
		for src, dst := range map[string]string{o.TLSCert: "public.crt", o.TLSKey: "private.key"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(m.cert, dst), b, 0o600)
		}
		scheme = "https"
	}
	m.Endpoint = scheme + "://" + m.addr
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start starts (or restarts) the server on its port and data, and waits
// until it is live.
func (m *MinIO) Start() {
	m.t.Helper()
	args := []string{"server", m.data, "--address", m.addr, "--console-address", "127.0.0.1:" + strconv.Itoa(freePort(m.t)), "--quiet"}
	if m.cert != "" {
		args = append(args, "--certs-dir", m.cert)
	}
	cmd := exec.Command(m.bin, args...)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+MinIOUser, "MINIO_ROOT_PASSWORD="+MinIOPassword, "MINIO_BROWSER=off",
		"MINIO_UPDATE=off", "HOME="+m.data)
	m.logs = &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = m.logs, m.logs
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.proc, m.exited = cmd.Process, make(chan struct{})
	go func() { cmd.Wait(); close(m.exited) }()
	client := &http.Client{Timeout: time.Second}
	if m.opts.TLSCA != "" {
		pem, _ := os.ReadFile(m.opts.TLSCA)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// ready, not live: live answers before the object layer is up, when
		// requests still get XMinioServerNotInitialized.
		if resp, err := client.Get(m.Endpoint + "/minio/health/ready"); err == nil {
			resp.Body.Close()
			// Ready can answer before the S3 API does (a request then gets
			// 503 XMinioServerNotInitialized): an anonymous ListBuckets must
			// be refused (403), not postponed.
			if resp.StatusCode == http.StatusOK {
				if api, err := client.Get(m.Endpoint + "/"); err == nil {
					api.Body.Close()
					if api.StatusCode != http.StatusServiceUnavailable {
						return
					}
				}
			}
		}
		select {
		case <-m.exited:
			m.t.Fatalf("minio exited:\n%s", m.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("minio did not come up:\n%s", m.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server.
func (m *MinIO) Stop() {
	if m.proc == nil {
		return
	}
	m.proc.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		m.proc.Kill()
		<-m.exited
	}
	m.proc = nil
}
