package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/x509roots/fallback/bundle"

	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testpki"
)

func TestMain(m *testing.M) {
	switch os.Getenv("TLSCONFIG_HELPER") {
	case "verify-embedded-root":
		EmbedRoots()
		os.Exit(verifyEmbeddedRoot())
	case "verify-without-embedding":
		os.Exit(verifyEmbeddedRoot())
	}
	os.Exit(m.Run())
}

// verifyEmbeddedRoot verifies one of Mozilla's roots against the default
// (system) pool. With SSL_CERT_FILE and SSL_CERT_DIR pointing nowhere, as in
// a FROM scratch image, only the embedded fallback can make this succeed.
func verifyEmbeddedRoot() int {
	for r := range bundle.Roots() {
		cert, err := x509.ParseCertificate(r.Certificate)
		if err != nil || r.Constraint != nil || !strings.Contains(cert.Subject.CommonName, "ISRG Root X1") {
			continue
		}
		if _, err := cert.Verify(x509.VerifyOptions{}); err != nil {
			fmt.Println("verify:", err)
			return 1
		}
		fmt.Println("verified", cert.Subject.CommonName)
		return 0
	}
	fmt.Println("ISRG Root X1 not in bundle")
	return 2
}

func TestEmbeddedRootsWithoutSystemBundle(t *testing.T) {
	empty := t.TempDir()
	helper := func(mode string) ([]byte, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TLSCONFIG_HELPER="+mode,
			"SSL_CERT_FILE="+filepath.Join(empty, "none.pem"), "SSL_CERT_DIR="+empty)
		return cmd.CombinedOutput()
	}
	if out, err := helper("verify-embedded-root"); err != nil {
		t.Fatalf("verification against embedded roots failed: %v: %s", err, out)
	}
	// The roots are registered by EmbedRoots, not at process start.
	if out, err := helper("verify-without-embedding"); err == nil {
		t.Fatalf("verified without EmbedRoots: %s", out)
	}
}

func newServer(t *testing.T, pki *testpki.PKI, requireClient bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = pki.ServerTLS(requireClient)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, o Options, url string) error {
	t.Helper()
	cfg, err := o.Config(t.Context())
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

func TestVerification(t *testing.T) {
	// The certificate names only "localhost", so https://127.0.0.1 is a
	// hostname mismatch on the very same server.
	pki := testpki.New(t, "localhost")
	srv := newServer(t, pki, false)
	mtls := newServer(t, pki, true)
	byName := func(s *httptest.Server) string { return strings.Replace(s.URL, "127.0.0.1", "localhost", 1) }
	// A raw TCP server that answers with plain text, not TLS.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n")
			c.Close()
		}
	}()

	tests := []struct {
		name       string
		opts       Options
		url        string
		wantErr    bool
		verifyFail bool
	}{
		{"trusted CA", Options{CAFile: pki.CAFile}, byName(srv), false, false},
		{"unknown authority", Options{}, byName(srv), true, true},
		{"hostname mismatch", Options{CAFile: pki.CAFile}, srv.URL, true, true},
		{"server name override", Options{CAFile: pki.CAFile, ServerName: "localhost"}, srv.URL, false, false},
		{"insecure skips verification", Options{InsecureSkipVerify: true}, srv.URL, false, false},
		{"client cert required, none given", Options{CAFile: pki.CAFile}, byName(mtls), true, true},
		{"client cert given", Options{CAFile: pki.CAFile, ClientCert: pki.ClientCert, ClientKey: pki.ClientKey}, byName(mtls), false, false},
		{"plain-text server on a TLS port", Options{CAFile: pki.CAFile}, "https://" + ln.Addr().String(), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := get(t, tc.opts, tc.url)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got := IsVerificationError(err); got != tc.verifyFail {
				t.Errorf("IsVerificationError(%v) = %v, want %v", err, got, tc.verifyFail)
			}
		})
	}
}

func TestIsVerificationErrorIgnoresNetworkErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	err := get(t, Options{}, "https://"+addr)
	if err == nil || IsVerificationError(err) {
		t.Fatalf("connection refused (%v) must not count as a verification error", err)
	}
}

func TestInsecureLogsWarning(t *testing.T) {
	buf := testlog.Capture(t)
	for range 2 {
		if _, err := (Options{InsecureSkipVerify: true}).Config(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("got %d warnings, want one per use:\n%s", n, buf.String())
	}
}

func TestOptionErrors(t *testing.T) {
	pki := testpki.New(t, "localhost")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o644)
	tests := []struct {
		name, want string
		opts       Options
	}{
		{"cert without key", "--client-cert and --client-key", Options{ClientCert: pki.ClientCert}},
		{"missing CA file", "/nonexistent/ca.pem", Options{CAFile: "/nonexistent/ca.pem"}},
		{"CA file without PEM", "no PEM certificate", Options{CAFile: notPEM}},
		{"key does not match", "loading client certificate", Options{ClientCert: pki.ClientCert, ClientKey: pki.ServerKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.opts.Config(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestMinVersion(t *testing.T) {
	cfg, err := Options{}.Config(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", cfg.MinVersion)
	}
}

func TestGivenAndConfigFor(t *testing.T) {
	if (Options{}).Given() {
		t.Error("empty options reported as given")
	}
	for _, o := range []Options{{CAFile: "x"}, {ClientCert: "x", ClientKey: "y"}, {ServerName: "x"}, {InsecureSkipVerify: true}} {
		if !o.Given() {
			t.Errorf("%+v not reported as given", o)
		}
	}
	cfg, err := Options{}.ConfigFor(t.Context(), "db.internal")
	if err != nil || cfg.ServerName != "db.internal" {
		t.Fatalf("ConfigFor: %v %q", err, cfg.ServerName)
	}
	cfg, _ = Options{ServerName: "override"}.ConfigFor(t.Context(), "db.internal")
	if cfg.ServerName != "override" {
		t.Errorf("--server-name must win: %q", cfg.ServerName)
	}
}
