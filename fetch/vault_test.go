package fetch

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/fetch/vault"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testcorpus"
	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/testserver"
)

// run runs fetch with short retries.
func run(t *testing.T, c Config) error {
	t.Helper()
	return Run(t.Context(), short(c, 30*time.Second, 10*time.Second))
}

// short gives c the tests' deadlines where it has none, and short retries.
func short(c Config, timeout, attempt time.Duration) Config {
	if c.Timeout == 0 {
		c.Timeout = timeout
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = attempt
	}
	if c.Interval == 0 {
		c.Interval, c.MaxInterval = 20*time.Millisecond, 200*time.Millisecond
	}
	return c
}

// vaultEnv starts a Vault with secrets and an "app" policy that allows only
// them (no default policy, so no sys/internal/ui/mounts either).
type vaultEnv struct {
	*testserver.Vault
	root *api.Client
}

func startVault(t *testing.T, o testserver.VaultOptions) *vaultEnv {
	t.Helper()
	v := &vaultEnv{Vault: testserver.StartVault(t, o)}
	v.root = v.Client()
	kv := v.root.KVv2("secret")
	for i := 1; i <= 3; i++ {
		if _, err := kv.Put(t.Context(), "app/db", map[string]any{"username": "app", "password": fmt.Sprintf("pw-v%d-Canary", i), "port": 5432}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, v.root.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}))
	_, err := v.root.Logical().Write("kv1/app", map[string]any{"api_key": "v1-Key-Canary", "tls.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})
	must(t, err)
	// Least privilege: only the secrets (no default policy either).
	must(t, v.root.Sys().PutPolicy("app", `
path "secret/data/app/*" { capabilities = ["read"] }
path "kv1/app"           { capabilities = ["read"] }
`))
	return v
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// appToken makes a token with only the app policy.
func (v *vaultEnv) appToken(t *testing.T) string {
	t.Helper()
	s, err := v.root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app"}, NoDefaultPolicy: true, TTL: "10m"})
	must(t, err)
	return s.Auth.ClientToken
}

func (v *vaultEnv) opts(token string) vault.Options {
	o := vault.Options{Address: v.Addr}
	if v.CAFile != "" {
		o.TLS.CAFile = v.CAFile
	}
	if token != "" {
		t := filepath.Join(os.TempDir(), fmt.Sprintf("initbox-token-%d", time.Now().UnixNano()))
		os.WriteFile(t, []byte(token+"\n"), 0o600)
		o.TokenFile = t
	}
	return o
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return m
}

func TestKVv2VersionsAndReceipt(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	dir := t.TempDir()
	out, receipt := filepath.Join(dir, "db.json"), filepath.Join(dir, "receipt.json")
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db"}, Out: out, Receipt: receipt, Sources: vaultSource(v.opts(v.RootToken))}))
	got := readJSON(t, out)
	if got["password"] != "pw-v3-Canary" || got["port"] != float64(5432) {
		t.Errorf("latest version: %v", got)
	}
	fi, _ := os.Stat(out)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	r := readJSON(t, receipt)
	secrets := r["secrets"].([]any)
	entry := secrets[0].(map[string]any)
	if entry["version"] != float64(3) || entry["engine"] != "kv2" || entry["path"] != "secret/data/app/db" {
		t.Errorf("receipt: %v", entry)
	}
	if b, _ := os.ReadFile(receipt); bytes.Contains(b, []byte("Canary")) {
		t.Error("the receipt holds a value")
	}

	pw := filepath.Join(dir, "pw")
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db?version=1#password"}, Out: pw, Sources: vaultSource(v.opts(v.RootToken))}))
	if b, _ := os.ReadFile(pw); string(b) != "pw-v1-Canary" {
		t.Errorf("version 1 password = %q (byte-exact, no newline added)", b)
	}
}

// lookupForbidden puts a proxy in front of Vault that answers 403 to
// sys/internal/ui/mounts, as older Vaults and API gateways that filter
// sys/internal/* do (Vault 1.21 answers that lookup for any token with some
// access to the mount), and forwards everything else.
func lookupForbidden(t *testing.T, v *vaultEnv) string {
	target, _ := url.Parse(v.Addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL
}

// KV v1 and v2 work without saying which: detected per mount, and guessed
// (v2, then a plain read) when the lookup is forbidden.
func TestKVDetectionUnderLeastPrivilege(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	forbidden := lookupForbidden(t, v)
	for _, tc := range []struct {
		name, token, addr string
		guess             bool
	}{
		{"root", v.RootToken, v.Addr, false},
		{"app-only policy", v.appToken(t), v.Addr, false},
		{"lookup forbidden", v.appToken(t), forbidden, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "all.json")
			logs := testlog.Capture(t)
			o := v.opts(tc.token)
			o.Address = tc.addr
			must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password", "vault://kv1/app"}, Out: out, Sources: vaultSource(o)}))
			got := readJSON(t, out)
			if got["password"] != "pw-v3-Canary" || got["api_key"] != "v1-Key-Canary" {
				t.Errorf("got %v", got)
			}
			if strings.Contains(logs.String(), "Canary") {
				t.Errorf("a value reached the log:\n%s", logs)
			}
			if guessed := strings.Contains(logs.String(), "may not look up mounts"); guessed != tc.guess {
				t.Errorf("guessed=%v, want %v:\n%s", guessed, tc.guess, logs)
			}
		})
	}
}

func TestPermissionDeniedNamesPathAndCapability(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	_, err := v.root.KVv2("secret").Put(t.Context(), "other/thing", map[string]any{"x": "y"})
	must(t, err)
	start := time.Now()
	err = run(t, Config{Refs: []string{"vault://secret/other/thing#kv=2"}, Out: filepath.Join(t.TempDir(), "x"), Format: JSON, Sources: vaultSource(v.opts(v.appToken(t)))})
	if exitcode.Of(err) != exitcode.Failure || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
	for _, want := range []string{"HTTP 403: permission denied; not retried", `"read" capability on path "secret/data/other/thing"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// When the engine had to be guessed, the message names both places tried.
	o := v.opts(v.appToken(t))
	o.Address = lookupForbidden(t, v)
	err = run(t, Config{Refs: []string{"vault://secret/other/thing"}, Out: filepath.Join(t.TempDir(), "x.json"), Sources: vaultSource(o)})
	if err == nil || !strings.Contains(err.Error(), "secret/data/other/thing (KV v2) and on secret/other/thing") {
		t.Errorf("err = %v", err)
	}
}

func TestMissingKeyAndSecret(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	dir := t.TempDir()
	err := run(t, Config{Refs: []string{"vault://secret/app/db#nope"}, Out: filepath.Join(dir, "x"), Sources: vaultSource(v.opts(v.RootToken))})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), `no key "nope"`) || !strings.Contains(err.Error(), "keys password, port, username") {
		t.Errorf("missing key: %v", err)
	}
	err = run(t, Config{Refs: []string{"vault://secret/app/gone"}, Out: filepath.Join(dir, "x.json"), Sources: vaultSource(v.opts(v.RootToken))})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "vault://secret/app/gone") {
		t.Errorf("missing secret: %v", err)
	}
	// Optional and default.
	out := filepath.Join(dir, "o.env")
	must(t, run(t, Config{Refs: []string{"vault://secret/app/gone#optional", "vault://secret/app/db#key=nope,as=FEATURE,default=off", "vault://secret/app/db#key=username,as=DB_USER"},
		Out: out, Sources: vaultSource(v.opts(v.RootToken))}))
	if b, _ := os.ReadFile(out); string(b) != "DB_USER=app\nFEATURE=off\n" {
		t.Errorf("dotenv = %q", b)
	}
	for _, name := range []string{"x", "x.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s written although the fetch failed", name)
		}
	}
}

func TestDirFormatAndPEM(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	out := filepath.Join(t.TempDir(), "kv1")
	must(t, run(t, Config{Refs: []string{"vault://kv1/app"}, Out: out, Format: DirFormat, Mode: 0o640, Sources: vaultSource(v.opts(v.RootToken))}))
	crt, err := os.ReadFile(filepath.Join(out, "tls.crt"))
	if err != nil || string(crt) != "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" {
		t.Fatalf("tls.crt = %q, %v", crt, err)
	}
	fi, _ := os.Stat(filepath.Join(out, "api_key"))
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if target, _ := os.Readlink(filepath.Join(out, "api_key")); target != "..data/api_key" {
		t.Errorf("not the Secret-volume shape: %q", target)
	}
}

func TestAppRoleAndRevocation(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	must(t, v.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}))
	_, err := v.root.Logical().Write("auth/approle/role/app", map[string]any{"token_policies": "app", "token_ttl": "10m"})
	must(t, err)
	rid, err := v.root.Logical().Read("auth/approle/role/app/role-id")
	must(t, err)
	roleID := rid.Data["role_id"].(string)
	dir := t.TempDir()
	secretIDFile := func(wrapped bool) string {
		c, _ := v.root.Clone()
		c.SetToken(v.RootToken)
		if wrapped {
			c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
		}
		s, err := c.Logical().Write("auth/approle/role/app/secret-id", nil)
		must(t, err)
		val := ""
		if wrapped {
			val = s.WrapInfo.Token
		} else {
			val = s.Data["secret_id"].(string)
		}
		f := filepath.Join(dir, fmt.Sprintf("sid-%d", time.Now().UnixNano()))
		os.WriteFile(f, []byte(val+"\n"), 0o600)
		return f
	}

	tokenOut := filepath.Join(dir, "vault-token")
	for _, tc := range []struct {
		name     string
		wrapped  bool
		tokenOut string
	}{{"plain secret id", false, ""}, {"wrapped secret id", true, ""}, {"token handed over", false, tokenOut}} {
		t.Run(tc.name, func(t *testing.T) {
			o := v.opts("")
			o.Auth, o.RoleID, o.SecretIDFile, o.SecretIDWrapped, o.TokenOut = "approle", roleID, secretIDFile(tc.wrapped), tc.wrapped, tc.tokenOut
			logs := testlog.Capture(t)
			out := filepath.Join(t.TempDir(), "pw")
			must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}))
			if b, _ := os.ReadFile(out); string(b) != "pw-v3-Canary" {
				t.Errorf("password = %q", b)
			}
			// The login token was revoked (or handed over): check every
			// token accessor-free way we can, through the audit of lookups.
			if tc.tokenOut != "" {
				tok, err := os.ReadFile(tc.tokenOut)
				must(t, err)
				fi, _ := os.Stat(tc.tokenOut)
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("token file mode %v", fi.Mode().Perm())
				}
				if _, err := v.root.Auth().Token().Lookup(string(tok)); err != nil {
					t.Errorf("the handed-over token does not work: %v", err)
				}
			} else if !strings.Contains(logs.String(), "login token revoked") {
				t.Errorf("no revocation:\n%s", logs)
			}
		})
	}
	t.Run("a used wrapping token fails at once", func(t *testing.T) {
		f := secretIDFile(true)
		o := v.opts("")
		o.Auth, o.RoleID, o.SecretIDFile, o.SecretIDWrapped = "approle", roleID, f, true
		must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: filepath.Join(t.TempDir(), "a"), Sources: vaultSource(o)}))
		start := time.Now()
		err := run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: filepath.Join(t.TempDir(), "b"), Sources: vaultSource(o)})
		if exitcode.Of(err) != exitcode.Failure || time.Since(start) > 5*time.Second {
			t.Fatalf("exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
		}
	})
}

func TestRevokedTokenIsGone(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	must(t, v.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}))
	_, err := v.root.Logical().Write("auth/approle/role/app", map[string]any{"token_policies": "app"})
	must(t, err)
	rid, _ := v.root.Logical().Read("auth/approle/role/app/role-id")
	sid, _ := v.root.Logical().Write("auth/approle/role/app/secret-id", nil)
	f := filepath.Join(t.TempDir(), "sid")
	os.WriteFile(f, []byte(sid.Data["secret_id"].(string)), 0o600)
	before := countTokens(t, v)
	o := v.opts("")
	o.Auth, o.RoleID, o.SecretIDFile = "approle", rid.Data["role_id"].(string), f
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: filepath.Join(t.TempDir(), "pw"), Sources: vaultSource(o)}))
	if after := countTokens(t, v); after != before {
		t.Errorf("%d tokens before the fetch, %d after: the login token was not revoked", before, after)
	}
}

func countTokens(t *testing.T, v *vaultEnv) int {
	s, err := v.root.Logical().List("auth/token/accessors")
	must(t, err)
	return len(s.Data["keys"].([]any))
}

func TestJWTLogin(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	signer := testserver.NewJWTSigner(t)
	must(t, v.root.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}))
	_, err := v.root.Logical().Write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{signer.PublicKeyPEM(t)}})
	must(t, err)
	_, err = v.root.Logical().Write("auth/jwt/role/app", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "initbox", "token_policies": "app"})
	must(t, err)
	jwt := signer.Sign(t, map[string]any{"sub": "ci-job-1", "aud": "initbox", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	os.WriteFile(jwtFile, []byte(jwt), 0o600)

	o := v.opts("")
	o.Auth, o.Role, o.JWTFile = "jwt", "app", jwtFile
	out := filepath.Join(t.TempDir(), "pw")
	logs := testlog.Capture(t)
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}))
	if strings.Contains(logs.String(), jwt[len(jwt)-20:]) {
		t.Error("the JWT reached the log")
	}

	o.Role = "nope"
	start := time.Now()
	err = run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)})
	if exitcode.Of(err) != exitcode.Failure || time.Since(start) > 5*time.Second || !strings.Contains(err.Error(), "auth/jwt/login") {
		t.Fatalf("wrong role: exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
}

// Vault calls the Kubernetes TokenReview API to check the service account
// token; the test serves that API in its real JSON format.
func TestKubernetesLogin(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	pki := testpki.New(t, "127.0.0.1")
	var reviews atomic.Int32
	k8s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		reviews.Add(1)
		var in struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		// As the API server does: 201, the spec echoed, the audiences the
		// token is valid for.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
			"spec": map[string]any{"token": in.Spec.Token, "audiences": in.Spec.Audiences},
			"status": map[string]any{"authenticated": true, "audiences": in.Spec.Audiences, "user": map[string]any{
				"username": "system:serviceaccount:shop:app", "uid": "uid-1234", "groups": []string{"system:serviceaccounts"}}}})
	}))
	k8s.TLS = pki.ServerTLS(false)
	k8s.StartTLS()
	defer k8s.Close()
	ca, _ := os.ReadFile(pki.CAFile)
	must(t, v.root.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}))
	_, err := v.root.Logical().Write("auth/kubernetes/config", map[string]any{"kubernetes_host": k8s.URL, "kubernetes_ca_cert": string(ca), "disable_local_ca_jwt": true})
	must(t, err)
	_, err = v.root.Logical().Write("auth/kubernetes/role/app", map[string]any{"bound_service_account_names": "app",
		"bound_service_account_namespaces": "shop", "token_policies": "app"})
	must(t, err)
	jwt := testserver.NewJWTSigner(t).Sign(t, map[string]any{"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:shop:app",
		"aud": []string{"https://kubernetes.default.svc"}, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": "shop", "serviceaccount": map[string]any{"name": "app", "uid": "uid-1234"}}})
	saToken := filepath.Join(t.TempDir(), "token")
	os.WriteFile(saToken, []byte(jwt), 0o600)

	o := v.opts("")
	o.Auth, o.Role, o.JWTFile = "kubernetes", "app", saToken
	out := filepath.Join(t.TempDir(), "pw")
	if err := run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}); err != nil {
		t.Fatalf("%v\n%s", err, v.Logs())
	}
	if reviews.Load() == 0 {
		t.Error("Vault never asked the TokenReview API")
	}
	o.Role = "wrong-role"
	start := time.Now()
	err = run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)})
	if exitcode.Of(err) != exitcode.Failure || time.Since(start) > 5*time.Second || !strings.Contains(err.Error(), `invalid role name "wrong-role"`) {
		t.Fatalf("wrong role: exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
	// A role that does not bind this service account: 403, with a hint
	// about the binding rather than about policies.
	_, err = v.root.Logical().Write("auth/kubernetes/role/other", map[string]any{"bound_service_account_names": "other",
		"bound_service_account_namespaces": "shop", "token_policies": "app"})
	must(t, err)
	o.Role = "other"
	err = run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "the role does not accept this identity") {
		t.Fatalf("unbound service account: %v", err)
	}
}

// Vault's Kubernetes auth against a real kube-apiserver: Vault asks the
// real TokenReview API about a service account token from the TokenRequest
// API (audience vault, as a projected token in a pod), and a token for
// another audience is refused.
func TestKubernetesLoginRealAPIServer(t *testing.T) {
	k := testserver.StartKube(t)
	v := startVault(t, testserver.VaultOptions{})
	k.Namespace("shop")
	// Vault's own identity, allowed to review tokens.
	reviewer := k.ServiceAccountToken("shop", "vault-auth", "https://kubernetes.default.svc")
	k.Create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": "vault-auth-delegator"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "vault-auth", "namespace": "shop"}}})
	ca, _ := os.ReadFile(k.CAFile)
	must(t, v.root.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}))
	_, err := v.root.Logical().Write("auth/kubernetes/config", map[string]any{"kubernetes_host": k.URL, "kubernetes_ca_cert": string(ca),
		"token_reviewer_jwt": reviewer, "disable_local_ca_jwt": true})
	must(t, err)
	_, err = v.root.Logical().Write("auth/kubernetes/role/app", map[string]any{"bound_service_account_names": "app",
		"bound_service_account_namespaces": "shop", "token_policies": "app", "audience": "vault"})
	must(t, err)
	dir := t.TempDir()
	saToken := filepath.Join(dir, "token")
	os.WriteFile(saToken, []byte(k.ServiceAccountToken("shop", "app", "vault")), 0o600)
	o := v.opts("")
	o.Auth, o.Role, o.JWTFile = "kubernetes", "app", saToken
	out := filepath.Join(t.TempDir(), "pw")
	if err := run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}); err != nil {
		t.Fatalf("%v\n%s", err, v.Logs())
	}
	if b, _ := os.ReadFile(out); string(b) != "pw-v3-Canary" {
		t.Errorf("password = %q", b)
	}
	// A token for the API server's audience, not Vault's: refused.
	os.WriteFile(saToken, []byte(k.ServiceAccountToken("shop", "app", "https://kubernetes.default.svc")), 0o600)
	err = run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: filepath.Join(dir, "pw2"), Sources: vaultSource(o)})
	if exitcode.Of(err) != exitcode.Failure {
		t.Fatalf("a token for another audience: %v, want exit 1", err)
	}
}

// A sealed Vault answers 503: retried until it is unsealed.
func TestSealedThenUnsealed(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	v.Seal()
	logs := testlog.Capture(t)
	done := make(chan error, 1)
	out := filepath.Join(t.TempDir(), "pw")
	go func() {
		done <- run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(v.opts(v.RootToken))})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "503") {
		if time.Now().After(deadline) {
			t.Fatalf("the fetch never met the sealed Vault:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, v.Unseal())
	must(t, <-done)
	if b, _ := os.ReadFile(out); string(b) != "pw-v3-Canary" {
		t.Errorf("password = %q", b)
	}
}

// The namespace header is sent (Vault OSS serves only the root namespace,
// so a proxy records and removes it).
func TestNamespaceHeader(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	target, _ := url.Parse(v.Addr)
	var seen atomic.Value
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("X-Vault-Namespace"))
		r.Header.Del("X-Vault-Namespace")
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	o := v.opts(v.RootToken)
	o.Address, o.Namespace = front.URL, "team-a/"
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: filepath.Join(t.TempDir(), "pw"), Sources: vaultSource(o)}))
	if seen.Load() != "team-a/" {
		t.Errorf("X-Vault-Namespace = %v", seen.Load())
	}
}

// A redirect to another host is refused before the token leaves.
func TestRedirectToAnotherHostRefused(t *testing.T) {
	var hits atomic.Int32
	var gotToken atomic.Value
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		gotToken.Store(r.Header.Get("X-Vault-Token"))
	}))
	defer elsewhere.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer front.Close()
	start := time.Now()
	err := run(t, Config{Refs: []string{"vault://secret/app/db#kv=2,password"}, Out: filepath.Join(t.TempDir(), "pw"),
		Sources: vaultSource(vault.Options{Address: front.URL, TokenFile: writeTemp(t, "tok-Redirect-Canary")})})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "refused to follow a redirect to another host") || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the other host got %d requests (token %v)", hits.Load(), gotToken.Load())
	}
}

func writeTemp(t *testing.T, content string) string {
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte(content), 0o600)
	return f
}

func TestTLS(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{TLS: true})
	out := filepath.Join(t.TempDir(), "pw")
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(v.opts(v.RootToken))}))
	// VAULT_CACERT works as for the vault CLI.
	t.Setenv("VAULT_CACERT", v.CAFile)
	o := v.opts(v.RootToken)
	o.TLS.CAFile = ""
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}))
	// VAULT_SKIP_VERIFY works as for the vault CLI, with a warning.
	os.Unsetenv("VAULT_CACERT")
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	logs := testlog.Capture(t)
	must(t, run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}))
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "verification of Vault is disabled") {
		t.Errorf("no warning for VAULT_SKIP_VERIFY:\n%s", logs)
	}
	os.Unsetenv("VAULT_SKIP_VERIFY")
	// Without the CA: a verification failure, not retried.
	start := time.Now()
	err := run(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "certificate") || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
}

// Dynamic credentials from the database engine, against a real PostgreSQL:
// the fetched user can log in.
func TestDatabaseCredentials(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	pg := databaseRole(t, v, "1h", "24h")
	dir := filepath.Join(t.TempDir(), "db")
	receipt := filepath.Join(t.TempDir(), "receipt.json")
	must(t, run(t, Config{Refs: []string{"vault://database/creds/app"}, Out: dir + "/", Receipt: receipt, Sources: vaultSource(v.opts(v.RootToken))}))
	user, _ := os.ReadFile(filepath.Join(dir, "username"))
	pw, _ := os.ReadFile(filepath.Join(dir, "password"))
	conn, err := pgconn.Connect(t.Context(), "postgres://"+url.UserPassword(string(user), string(pw)).String()+"@"+pg.Addr()+"/postgres")
	if err != nil {
		t.Fatalf("the fetched credentials do not work: %v", err)
	}
	conn.Close(t.Context())
	entry := readJSON(t, receipt)["secrets"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(fmt.Sprint(entry["lease_id"]), "database/creds/app/") || entry["lease_duration_seconds"] != float64(3600) {
		t.Errorf("receipt: %v", entry)
	}
}

// pkiRole mounts PKI with a root CA and a role "web" for *.svc, its max
// TTL 72h; extra sets more of the role's fields.
func pkiRole(t *testing.T, v *vaultEnv, extra map[string]any) {
	t.Helper()
	must(t, v.root.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "87600h"}}))
	_, err := v.root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "initbox test root", "ttl": "8760h"})
	must(t, err)
	role := map[string]any{"allowed_domains": "svc", "allow_subdomains": true, "max_ttl": "72h"}
	maps.Copy(role, extra)
	_, err = v.root.Logical().Write("pki/roles/web", role)
	must(t, err)
}

// A write with fields: a certificate from the PKI engine, as files.
func TestPKIIssue(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	pkiRole(t, v, map[string]any{})
	dir := filepath.Join(t.TempDir(), "tls")
	must(t, run(t, Config{Refs: []string{"vault://pki/issue/web?common_name=web.shop.svc&ttl=1h#write"}, Out: dir, Format: DirFormat, Sources: vaultSource(v.opts(v.RootToken))}))
	crt, _ := os.ReadFile(filepath.Join(dir, "certificate"))
	block, _ := pem.Decode(crt)
	if block == nil {
		t.Fatalf("certificate is not PEM: %q", crt)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "web.shop.svc" {
		t.Fatalf("certificate: %v %v", cert, err)
	}
	if key, _ := os.ReadFile(filepath.Join(dir, "private_key")); !bytes.HasPrefix(key, []byte("-----BEGIN")) {
		t.Errorf("private_key = %.30q", key)
	}
}

// A canary secret appears in the intended output and nowhere else: not in
// the logs, the error, the receipt or any other file.
func TestCanaryOnlyInOutput(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	const canary = "canary-FETCH-8e7d6c"
	_, err := v.root.KVv2("secret").Put(t.Context(), "app/canary", map[string]any{"value": canary})
	must(t, err)
	dir := t.TempDir()
	logs := testlog.Capture(t)
	must(t, run(t, Config{Refs: []string{"vault://secret/app/canary#value"}, Out: filepath.Join(dir, "out"), Receipt: filepath.Join(dir, "receipt.json"),
		Sources: vaultSource(v.opts(v.RootToken))}))
	// A failing fetch with the canary in play (a missing key next to it).
	err = run(t, Config{Refs: []string{"vault://secret/app/canary#value", "vault://secret/app/canary#nope"}, Out: filepath.Join(dir, "fail.json"),
		Sources: vaultSource(v.opts(v.RootToken))})
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("canary in the logs:\n%s", logs)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if filepath.Base(p) == "out" {
			if string(b) != canary {
				t.Errorf("out = %q", b)
			}
		} else if bytes.Contains(b, []byte(canary)) {
			t.Errorf("canary in %s", p)
		}
		return nil
	})
}

func vaultSource(o vault.Options) map[string]source.Options {
	return map[string]source.Options{"vault": &o}
}

// A secret's keys are remote input when they become files (--format dir):
// every hostile key is refused with exit 1, naming it and the way out, and
// the previous files stay.
func TestHostileVaultKeys(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	dir := filepath.Join(t.TempDir(), "secrets") + "/"
	kv := v.root.KVv2("secret")
	if _, err := kv.Put(t.Context(), "good", map[string]any{"password": "p1"}); err != nil {
		t.Fatal(err)
	}
	must(t, run(t, Config{Refs: []string{"vault://secret/good"}, Out: dir, Format: DirFormat, Sources: vaultSource(v.opts(v.RootToken))}))
	for _, key := range []string{"../evil", "a/b", "..data", ".", "x\u0085y", "\u2025", "a\uff0fb", "x\x00y", strings.Repeat("k", 300)} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			if _, err := kv.Put(t.Context(), "bad", map[string]any{key: "v"}); err != nil {
				t.Fatal(err)
			}
			err := run(t, Config{Refs: []string{"vault://secret/bad"}, Out: dir, Format: DirFormat, Sources: vaultSource(v.opts(v.RootToken))})
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "rename it with #key=…,as=NAME") {
				t.Fatalf("exit %d: %v", exitcode.Of(err), err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "password")); err != nil || string(b) != "p1" {
				t.Errorf("the previous state is gone: %q, %v", b, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(filepath.Dir(dir))); len(entries) != 1 {
				t.Errorf("written beside the target: %v", entries)
			}
		})
	}
}

// The hostile corpus through a real Vault: stored as one secret, fetched in
// each env format, the file is byte for byte what the readers were shown to
// read exactly (envfile_test.go); a value a format cannot hold fails the
// fetch with exit 1, naming the key, and writes nothing.
func TestEnvFormatsThroughVault(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	values := testcorpus.SecretValues(filepath.Join(t.TempDir(), "executed"))
	secret := map[string]any{}
	for i, val := range values {
		if strings.IndexByte(val, 0) < 0 && utf8.ValidString(val) { // Vault's JSON carries neither
			secret[fmt.Sprintf("V%04d", i)] = val
		}
	}
	if _, err := v.root.KVv2("secret").Put(t.Context(), "corpus", secret); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{Dotenv, Shell, EnvFile, Systemd} {
		t.Run(format, func(t *testing.T) {
			held := map[string]any{}
			var refs []string
			var refused string
			for name, val := range secret {
				if _, err := encode(format, map[string]any{name: val}); err != nil {
					refused = name
					continue
				}
				held[name] = val
				refs = append(refs, "vault://secret/corpus#"+name)
			}
			out := filepath.Join(t.TempDir(), "app.env")
			must(t, run(t, Config{Refs: refs, Out: out, Format: format, Sources: vaultSource(v.opts(v.RootToken))}))
			want, _ := encode(format, held)
			if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
				t.Fatalf("the file differs from what the readers read exactly (%d vs %d bytes)", len(got), len(want))
			}
			if refused == "" {
				return
			}
			bad := filepath.Join(t.TempDir(), "bad.env")
			err := run(t, Config{Refs: []string{"vault://secret/corpus#" + refused}, Out: bad, Format: format, Sources: vaultSource(v.opts(v.RootToken))})
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "name "+refused+":") || !strings.Contains(err.Error(), "use --format") {
				t.Errorf("refused value: exit %d, %v", exitcode.Of(err), err)
			}
			if _, err := os.Stat(bad); err == nil {
				t.Error("a refused value left a file")
			}
		})
	}
}
