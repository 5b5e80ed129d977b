package k8s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/initbox/initbox/internal/redact"
)

// In-cluster locations; variables so that tests can point them elsewhere.
var (
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	getenv            = os.Getenv
)

// config is how to reach and authenticate to an API server.
type config struct {
	server    string // https://host:port
	namespace string // the default namespace
	tls       *tls.Config
	// token returns the bearer token for each request; in-cluster it is
	// re-read every time, because the kubelet rotates it.
	token              func() (string, error)
	exec               *execPlugin // a kubeconfig's exec credential plugin
	username, password string
	source             string // for logs: "in-cluster" or the kubeconfig path
}

// loadConfig picks the configuration: --kubeconfig if given; else the
// in-cluster service account when KUBERNETES_SERVICE_HOST is set; else
// $KUBECONFIG (its files merged as kubectl merges them), else
// ~/.kube/config.
func loadConfig(ctx context.Context, kubeconfig, kubeContext string) (*config, error) {
	if kubeconfig == "" && getenv("KUBERNETES_SERVICE_HOST") != "" {
		if kubeContext != "" {
			return nil, errors.New("--context needs a kubeconfig; in a pod, the service account is used")
		}
		return inCluster()
	}
	if kubeconfig == "" {
		var files []string
		for _, p := range filepath.SplitList(getenv("KUBECONFIG")) {
			if p != "" && fileExists(p) && !slices.Contains(files, p) {
				files = append(files, p)
			}
		}
		if len(files) > 0 {
			return fromKubeconfigs(ctx, files, kubeContext)
		}
	}
	if kubeconfig == "" {
		if home, err := os.UserHomeDir(); err == nil {
			if p := filepath.Join(home, ".kube", "config"); fileExists(p) {
				kubeconfig = p
			}
		}
	}
	if kubeconfig == "" {
		return nil, errors.New("no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig; give --kubeconfig")
	}
	return fromKubeconfigs(ctx, []string{kubeconfig}, kubeContext)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func inCluster() (*config, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if port == "" {
		port = "443"
	}
	caFile := filepath.Join(serviceAccountDir, "ca.crt")
	pool, err := loadPool(caFile, "")
	if err != nil {
		return nil, fmt.Errorf("in-cluster config: %w (is a service account token mounted?)", err)
	}
	tokenFile := filepath.Join(serviceAccountDir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("in-cluster config: %w (automountServiceAccountToken: false?)", err)
	}
	ns := "default"
	if b, err := os.ReadFile(filepath.Join(serviceAccountDir, "namespace")); err == nil && len(b) > 0 {
		ns = strings.TrimSpace(string(b))
	}
	return &config{
		server:    "https://" + net.JoinHostPort(host, port),
		namespace: ns,
		tls:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		token:     func() (string, error) { return redact.ReadSecretFile(tokenFile) },
		source:    "in-cluster service account",
	}, nil
}

// kubeconfig is the part of the kubeconfig format initbox reads.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string         `yaml:"token"`
			TokenFile             string         `yaml:"tokenFile"`
			ClientCertificate     string         `yaml:"client-certificate"`
			ClientCertificateData string         `yaml:"client-certificate-data"`
			ClientKey             string         `yaml:"client-key"`
			ClientKeyData         string         `yaml:"client-key-data"`
			Username              string         `yaml:"username"`
			Password              string         `yaml:"password"`
			Exec                  *execConfig    `yaml:"exec"`
			AuthProvider          map[string]any `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster   string `yaml:"cluster"`
			User      string `yaml:"user"`
			Namespace string `yaml:"namespace"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// readKubeconfig reads one kubeconfig file, its relative paths made
// absolute against its directory (as kubectl resolves them).
func readKubeconfig(path string) (*kubeconfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v", path, redact.Scrub(err.Error()))
	}
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range kc.Clusters {
		abs(&kc.Clusters[i].Cluster.CertificateAuthority)
	}
	for i := range kc.Users {
		u := &kc.Users[i].User
		abs(&u.TokenFile)
		abs(&u.ClientCertificate)
		abs(&u.ClientKey)
		if u.Exec != nil && strings.ContainsRune(u.Exec.Command, '/') {
			abs(&u.Exec.Command)
		}
	}
	return &kc, nil
}

// mergeKubeconfigs merges files as kubectl does: the first file to name a
// cluster, user or context wins, and so does the first current-context.
func mergeKubeconfigs(paths []string) (*kubeconfig, error) {
	var merged kubeconfig
	seen := map[string]bool{}
	for _, path := range paths {
		kc, err := readKubeconfig(path)
		if err != nil {
			return nil, err
		}
		if merged.CurrentContext == "" {
			merged.CurrentContext = kc.CurrentContext
		}
		for _, c := range kc.Clusters {
			if !seen["cluster "+c.Name] {
				seen["cluster "+c.Name] = true
				merged.Clusters = append(merged.Clusters, c)
			}
		}
		for _, u := range kc.Users {
			if !seen["user "+u.Name] {
				seen["user "+u.Name] = true
				merged.Users = append(merged.Users, u)
			}
		}
		for _, c := range kc.Contexts {
			if !seen["context "+c.Name] {
				seen["context "+c.Name] = true
				merged.Contexts = append(merged.Contexts, c)
			}
		}
	}
	return &merged, nil
}

func fromKubeconfigs(ctx context.Context, paths []string, contextName string) (*config, error) {
	kc, err := mergeKubeconfigs(paths)
	if err != nil {
		return nil, err
	}
	path := strings.Join(paths, string(filepath.ListSeparator))
	if contextName == "" {
		contextName = kc.CurrentContext
	}
	if contextName == "" {
		return nil, fmt.Errorf("kubeconfig %s has no current-context; give --context", path)
	}
	idx := -1
	for i, c := range kc.Contexts {
		if c.Name == contextName {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("kubeconfig %s has no context %q", path, contextName)
	}
	kctx := kc.Contexts[idx].Context
	cfg := &config{namespace: kctx.Namespace, source: path + " (context " + contextName + ")"}
	if cfg.namespace == "" {
		cfg.namespace = "default"
	}
	found := false
	var clusterInfo map[string]any // what a plugin with provideClusterInfo is told
	for _, c := range kc.Clusters {
		if c.Name != kctx.Cluster {
			continue
		}
		found = true
		cl := c.Cluster
		clusterInfo = map[string]any{"server": cl.Server, "tls-server-name": cl.TLSServerName, "insecure-skip-tls-verify": cl.InsecureSkipTLSVerify}
		if ca, err := fileOrData(cl.CertificateAuthority, cl.CertificateAuthorityData); err == nil && len(ca) > 0 {
			clusterInfo["certificate-authority-data"] = ca
		}
		cfg.server = strings.TrimSuffix(cl.Server, "/")
		cfg.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cl.TLSServerName}
		if cl.InsecureSkipTLSVerify {
			slog.WarnContext(ctx, "TLS certificate verification of the Kubernetes API is disabled (insecure-skip-tls-verify in the kubeconfig)")
			cfg.tls.InsecureSkipVerify = true
		} else if cl.CertificateAuthority != "" || cl.CertificateAuthorityData != "" {
			if cfg.tls.RootCAs, err = loadPool(cl.CertificateAuthority, cl.CertificateAuthorityData); err != nil {
				return nil, fmt.Errorf("kubeconfig %s, cluster %s: %w", path, c.Name, err)
			}
		}
	}
	if !found || cfg.server == "" {
		return nil, fmt.Errorf("kubeconfig %s: context %q names cluster %q, which has no server", path, contextName, kctx.Cluster)
	}
	for _, u := range kc.Users {
		if u.Name != kctx.User {
			continue
		}
		us := u.User
		switch {
		case len(us.AuthProvider) > 0:
			return nil, fmt.Errorf("kubeconfig %s, user %s: auth-provider credentials (removed from kubectl in 1.26) are not supported; use its exec plugin, a token or a client certificate", path, u.Name)
		case us.Exec != nil:
			p, err := newExecPlugin(*us.Exec, u.Name, clusterInfo)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s, %w", path, err)
			}
			cfg.exec = p
			cfg.tls.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				_, cert, err := p.credential(ctx)
				if err != nil || cert == nil {
					return &tls.Certificate{}, err
				}
				return cert, nil
			}
		case us.Token != "":
			redact.Register(us.Token)
			tok := us.Token
			cfg.token = func() (string, error) { return tok, nil }
		case us.TokenFile != "":
			f := us.TokenFile
			cfg.token = func() (string, error) { return redact.ReadSecretFile(f) }
		case us.Username != "":
			redact.Register(us.Password)
			cfg.username, cfg.password = us.Username, us.Password
		}
		if us.ClientCertificate != "" || us.ClientCertificateData != "" {
			cert, err := loadPair(us.ClientCertificate, us.ClientCertificateData, us.ClientKey, us.ClientKeyData)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s, user %s: %w", path, u.Name, err)
			}
			cfg.tls.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg, nil
}

// loadPool reads a CA bundle from a file or from base64 data.
func loadPool(file, data string) (*x509.CertPool, error) {
	pem, err := fileOrData(file, data)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("certificate authority: no PEM certificate found")
	}
	return pool, nil
}

func loadPair(certFile, certData, keyFile, keyData string) (tls.Certificate, error) {
	cert, err := fileOrData(certFile, certData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate: %w", err)
	}
	key, err := fileOrData(keyFile, keyData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client key: %w", err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate and key: %w", err)
	}
	return pair, nil
}

func fileOrData(file, data string) ([]byte, error) {
	if data != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err != nil {
			return nil, errors.New("bad base64 in the -data field")
		}
		return b, nil
	}
	return os.ReadFile(file)
}
