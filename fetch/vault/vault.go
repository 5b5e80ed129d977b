// Package vault is fetch's HashiCorp Vault source: it logs in (token,
// Kubernetes, AppRole with a plain or response-wrapped secret id, JWT),
// reads KV v1 and v2 secrets (detecting the version per mount, and falling
// back cleanly when the policy forbids that lookup), reads or writes any
// other path (database/creds/app, pki/issue/web), and revokes the token it
// logged in with. It uses github.com/hashicorp/vault/api with the client's
// own retries off: fetch's retry loop is the only one.
//
//	vault://secret/app/db#password
//	vault://secret/app/db?version=3
//	vault://database/creds/app
//	vault://pki/issue/web?common_name=web.svc&ttl=24h#write
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/atomicfile"
	"github.com/initbox/initbox/internal/limit"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// DefaultServiceAccountToken is where Kubernetes mounts a pod's token.
const DefaultServiceAccountToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Options configure the Vault source. Empty fields fall back to the
// VAULT_* environment variables the Vault CLI reads.
type Options struct {
	Address   string // VAULT_ADDR
	Namespace string // VAULT_NAMESPACE
	// TLS is filled from the command's TLS flags.
	TLS tlsconfig.Options

	// Auth is token (default), kubernetes, approle or jwt.
	Auth      string
	AuthMount string // default: the method's name
	Role      string // kubernetes, jwt: the role; approle: see RoleID

	TokenFile       string // token: a file holding the token (else VAULT_TOKEN)
	JWTFile         string // kubernetes: the service account token; jwt: the JWT
	RoleID          string // approle
	RoleIDFile      string // approle
	SecretIDFile    string // approle
	SecretIDWrapped bool   // approle: the secret id file holds a response-wrapping token

	// TokenOut, if set, receives the token initbox logged in with (mode
	// 0600), which is then not revoked: the application takes it over.
	TokenOut string
}

// Provider registers vault:// with fetch.
var Provider = source.Provider{
	Scheme:     "vault",
	RefOptions: []string{"kv=", "mount=", "write"},
	Options:    func() source.Options { return &Options{Auth: "token"} },
}

// New makes the source from the options and the command's TLS settings.
func (o *Options) New(ctx context.Context, env source.Env, load bool) (source.Source, error) {
	opts := *o
	if !opts.TLS.Given() { // the source's own TLS settings win over the command's
		opts.TLS = env.TLS
	}
	return New(ctx, opts, load)
}

// Source reads from one Vault.
type Source struct {
	opts     Options
	client   *api.Client
	address  string
	loggedIn bool // the token is initbox's own: revoke it at the end
	// The login token's lease, for --watch: its length at login, when it
	// ends, whether it renews (zero ttl: it never expires).
	tokenTTL       time.Duration
	tokenExpires   time.Time
	tokenRenewable bool
	tokenLooked    bool // a given token's lease has been looked up

	mu              sync.Mutex
	mounts          map[string]mount // by mount path ("secret")
	lookupForbidden bool             // sys/internal/ui/mounts is denied: guess
}

// mount is what Vault said about a secrets engine.
type mount struct {
	path      string // "secret" (no slashes)
	engine    string // kv, database, pki, …
	kvVersion int    // 1 or 2 for kv
}

var _ source.SecretSource = (*Source)(nil)

// vaultRef is what a reference's Vault options say.
type vaultRef struct {
	kv    int    // 1 or 2: skip KV version detection; 0 = detect
	mount string // the secrets engine's mount, when detection is not allowed and it is not the first path element
	write bool   // a write (POST) with the query as its fields
}

func parseRef(ref source.Ref) (vaultRef, error) {
	var v vaultRef
	if kv, ok := ref.Options["kv"]; ok {
		if kv != "1" && kv != "2" {
			return v, fmt.Errorf("reference %s: #kv=%s: use 1 or 2", ref.Display, kv)
		}
		v.kv = int(kv[0] - '0')
	}
	v.mount = strings.Trim(ref.Options["mount"], "/")
	_, v.write = ref.Options["write"] // ParseRef refused #write=…
	if v.write && (v.kv != 0 || ref.URL.Query().Has("version")) {
		return v, fmt.Errorf("reference %s: #write goes with neither #kv= nor ?version", ref.Display)
	}
	return v, nil
}

// CheckRef refuses what Vault references cannot mean.
func (s *Source) CheckRef(ref source.Ref) error {
	_, err := parseRef(ref)
	return err
}

// New configures a client from the options and the VAULT_* environment.
// Without load it only checks the options.
func New(ctx context.Context, opts Options, load bool) (*Source, error) {
	if opts.Auth == "" {
		opts.Auth = "token"
	}
	if opts.AuthMount == "" {
		opts.AuthMount = opts.Auth
	}
	opts.AuthMount = strings.Trim(opts.AuthMount, "/")
	switch opts.Auth {
	case "token":
	case "kubernetes":
		if opts.Role == "" {
			return nil, errors.New("--vault-auth kubernetes needs --vault-role (the Vault role bound to this service account)")
		}
		if opts.JWTFile == "" {
			opts.JWTFile = DefaultServiceAccountToken
		}
	case "jwt":
		if opts.Role == "" || opts.JWTFile == "" {
			return nil, errors.New("--vault-auth jwt needs --vault-role and --vault-jwt-file")
		}
	case "approle":
		if (opts.RoleID == "") == (opts.RoleIDFile == "") {
			return nil, errors.New("--vault-auth approle needs one of --vault-role-id or --vault-role-id-file")
		}
		if opts.SecretIDFile == "" {
			return nil, errors.New("--vault-auth approle needs --vault-secret-id-file (the secret id never goes on the command line)")
		}
	default:
		return nil, fmt.Errorf("--vault-auth %q: use token, kubernetes, approle or jwt", opts.Auth)
	}
	if opts.TokenOut != "" && opts.Auth == "token" {
		return nil, errors.New("--vault-token-out hands over a token initbox logged in with; with --vault-auth token the application can use the same token source")
	}
	if err := opts.TLS.Validate(); err != nil {
		return nil, err
	}
	s := &Source{opts: opts, mounts: map[string]mount{}}
	if !load {
		return s, nil
	}

	cfg := api.DefaultConfig() // VAULT_ADDR, VAULT_CACERT, VAULT_SKIP_VERIFY, …
	if cfg.Error != nil {
		return nil, fmt.Errorf("reading the VAULT_* environment: %w", cfg.Error)
	}
	cfg.MaxRetries = 0 // ours are the only retries
	if opts.Address != "" {
		cfg.Address = opts.Address
	}
	u, err := url.Parse(cfg.Address)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--vault-addr or VAULT_ADDR %q: want https://host:8200", redact.URLString(cfg.Address))
	}
	s.address = redact.URL(u)
	if t := opts.TLS; t.Given() {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: t.CAFile, ClientCert: t.ClientCert, ClientKey: t.ClientKey,
			TLSServerName: t.ServerName, Insecure: t.InsecureSkipVerify}); err != nil {
			return nil, fmt.Errorf("configuring TLS for Vault: %w", err)
		}
	}
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
		slog.WarnContext(ctx, "TLS certificate verification of Vault is disabled (--insecure-skip-verify or VAULT_SKIP_VERIFY); the token can be intercepted")
	}
	// The token goes to this host and no other: a redirect elsewhere is
	// refused before the request leaves.
	cfg.HttpClient.Transport = &pinned{host: u.Host, next: cfg.HttpClient.Transport}
	s.client, err = api.NewClient(cfg) // also reads VAULT_TOKEN, VAULT_NAMESPACE
	if err != nil {
		return nil, fmt.Errorf("configuring the Vault client: %w", err)
	}
	if opts.Namespace != "" {
		s.client.SetNamespace(opts.Namespace)
	}
	if opts.Auth == "token" {
		if opts.TokenFile != "" {
			tok, err := redact.ReadSecretFile(opts.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("--vault-token-file: %w", err)
			}
			s.client.SetToken(tok)
		}
		if s.client.Token() == "" {
			return nil, errors.New("no Vault token: set VAULT_TOKEN or --vault-token-file, or log in with --vault-auth kubernetes|approle|jwt")
		}
		redact.Register(s.client.Token())
	}
	return s, nil
}

// errOtherHost is returned for a request to a host other than Vault's.
var errOtherHost = errors.New("refused to follow a redirect to another host: the Vault token is only sent to the configured Vault address")

type pinned struct {
	host string
	next http.RoundTripper
}

func (p *pinned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != p.host {
		return nil, fmt.Errorf("%w (%s → %s)", errOtherHost, p.host, r.URL.Host)
	}
	resp, err := p.next.RoundTrip(r)
	if err == nil {
		// Vault's answers are small (a PKI bundle is a few KiB): one that
		// goes on does not fill the memory the client reads it into.
		resp.Body = limit.ReadCloser(resp.Body, maxAnswer, func() error {
			return fmt.Errorf("the answer of Vault is larger than %d MiB; refused", maxAnswer>>20)
		})
	}
	return resp, err
}

// maxAnswer is the most of one Vault answer that is read.
const maxAnswer = 32 << 20

// Open logs in with the configured method; with a token there is nothing to
// do. Unwrapping a wrapped secret id uses it up, so an Open that failed
// after that point is not worth retrying and says so.
func (s *Source) Open(ctx context.Context) error {
	var (
		secret *api.Secret
		err    error
		what   = "auth/" + s.opts.AuthMount + "/login"
	)
	switch s.opts.Auth {
	case "token":
		return nil
	case "kubernetes":
		var k *kubernetes.KubernetesAuth
		k, err = kubernetes.NewKubernetesAuth(s.opts.Role, kubernetes.WithMountPath(s.opts.AuthMount),
			kubernetes.WithServiceAccountTokenPath(s.opts.JWTFile))
		if err == nil {
			if jwt, rerr := os.ReadFile(s.opts.JWTFile); rerr == nil {
				redact.Register(strings.TrimSpace(string(jwt)))
			}
			secret, err = s.client.Auth().Login(ctx, k)
		}
	case "jwt":
		var jwt string
		jwt, err = redact.ReadSecretFile(s.opts.JWTFile)
		if err != nil {
			return retry.Permanent(fmt.Errorf("--vault-jwt-file: %w", err))
		}
		secret, err = s.client.Logical().WriteWithContext(ctx, "auth/"+s.opts.AuthMount+"/login",
			map[string]any{"role": s.opts.Role, "jwt": jwt})
	case "approle":
		roleID := s.opts.RoleID
		if s.opts.RoleIDFile != "" {
			if roleID, err = redact.ReadSecretFile(s.opts.RoleIDFile); err != nil {
				return retry.Permanent(fmt.Errorf("--vault-role-id-file: %w", err))
			}
		}
		if b, rerr := os.ReadFile(s.opts.SecretIDFile); rerr == nil {
			redact.Register(strings.TrimSpace(string(b)))
		} else {
			return retry.Permanent(fmt.Errorf("--vault-secret-id-file: %w", rerr))
		}
		lopts := []approle.LoginOption{approle.WithMountPath(s.opts.AuthMount)}
		if s.opts.SecretIDWrapped {
			lopts = append(lopts, approle.WithWrappingToken())
		}
		var a *approle.AppRoleAuth
		a, err = approle.NewAppRoleAuth(roleID, &approle.SecretID{FromFile: s.opts.SecretIDFile}, lopts...)
		if err == nil {
			secret, err = s.client.Auth().Login(ctx, a)
		}
	}
	if err != nil {
		return classify(err, what, "login")
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return retry.Permanent(fmt.Errorf("%s: Vault answered without a token", what))
	}
	redact.Register(secret.Auth.ClientToken)
	s.client.SetToken(secret.Auth.ClientToken)
	s.loggedIn = true
	s.setTokenLease(time.Duration(secret.Auth.LeaseDuration)*time.Second, secret.Auth.Renewable)
	slog.InfoContext(ctx, "logged in to Vault", "address", s.address, "method", s.opts.Auth, "mount", s.opts.AuthMount,
		"policies", secret.Auth.Policies, "ttl", time.Duration(secret.Auth.LeaseDuration)*time.Second)
	return nil
}

func (s *Source) setTokenLease(ttl time.Duration, renewable bool) {
	s.tokenTTL, s.tokenRenewable, s.tokenExpires = ttl, renewable, time.Time{}
	if ttl > 0 {
		s.tokenExpires = time.Now().Add(ttl)
	}
}

// KeepLogin renews the login token at about two thirds of its lease and
// logs in again when it cannot be renewed for long enough (a max TTL
// reached). A token given to initbox (VAULT_TOKEN, --vault-token-file) is renewed if it can
// be, never replaced.
func (s *Source) KeepLogin(ctx context.Context) (time.Time, bool, error) {
	if !s.loggedIn && !s.tokenLooked {
		secret, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			err = classify(err, "auth/token/lookup-self", "read")
		}
		var fe *forbiddenError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			// A token made without the default policy may not look itself
			// up: what it reads still works; its end is not initbox's to know.
			s.tokenLooked = true
			slog.WarnContext(ctx, "the Vault token cannot look itself up; it is not renewed by initbox", "error", err)
			return time.Time{}, false, nil
		default:
			return time.Time{}, false, err // Vault away: asked again next pass
		}
		s.tokenLooked = true
		ttl, _ := secret.TokenTTL()
		renewable, _ := secret.TokenIsRenewable()
		s.setTokenLease(ttl, renewable)
	}
	if s.tokenTTL == 0 {
		return time.Time{}, false, nil
	}
	due := source.RenewAt(s.tokenExpires, s.tokenTTL)
	if time.Now().Before(due) {
		return due, false, nil
	}
	if s.tokenRenewable {
		secret, err := s.client.Auth().Token().RenewSelfWithContext(ctx, int(s.tokenTTL.Seconds()))
		if err == nil && secret != nil && secret.Auth != nil {
			ttl := time.Duration(secret.Auth.LeaseDuration) * time.Second
			if ttl >= 2*s.tokenTTL/3 {
				s.tokenExpires = time.Now().Add(ttl)
				slog.InfoContext(ctx, "renewed the Vault token", "ttl", ttl)
				return source.RenewAt(s.tokenExpires, s.tokenTTL), false, nil
			}
			slog.InfoContext(ctx, "the Vault token is near its max TTL", "ttl", ttl, "logged_in", s.loggedIn)
			s.tokenExpires = time.Now().Add(ttl)
		} else if err != nil {
			slog.WarnContext(ctx, "renewing the Vault token failed", "error", classify(err, "auth/token/renew-self", "update"))
		}
	}
	if !s.loggedIn {
		// Not initbox's to replace: warn until it ends.
		if time.Now().After(s.tokenExpires) {
			return time.Time{}, false, retry.Permanent(errors.New("the Vault token given to initbox has expired and cannot be renewed: give a renewable token, or log in with --vault-auth"))
		}
		return time.Now().Add(min(time.Until(s.tokenExpires)/2, time.Minute)), false, nil
	}
	old := s.client.Token()
	if err := s.Open(ctx); err != nil {
		s.client.SetToken(old)
		return time.Time{}, false, err
	}
	// The old token is left to expire: the application may still hold
	// what it read (a database connection) until it has the new files.
	return source.RenewAt(s.tokenExpires, s.tokenTTL), true, nil
}

// Renew renews the lease of what sec holds for its first length again.
func (s *Source) Renew(ctx context.Context, sec *source.Secret) (time.Time, error) {
	d, ok := sec.Receipt.Details.(Details)
	if !ok || d.LeaseID == "" || !d.Renewable {
		return time.Time{}, nil
	}
	secret, err := s.client.Sys().RenewWithContext(ctx, d.LeaseID, int(d.LeaseDuration))
	if err != nil {
		return time.Time{}, classify(err, "sys/leases/renew", "update")
	}
	if secret == nil || secret.LeaseDuration <= 0 {
		return time.Time{}, nil
	}
	return time.Now().Add(time.Duration(secret.LeaseDuration) * time.Second), nil
}

// Close hands the token over (--vault-token-out) or revokes the one initbox
// created. It runs with its own short deadline, even after a signal.
func (s *Source) Close(ctx context.Context) error {
	if s.client == nil || !s.loggedIn {
		return nil
	}
	if s.opts.TokenOut != "" {
		_, err := atomicfile.WriteFile(ctx, s.opts.TokenOut, []byte(s.client.Token()), atomicfile.Options{Mode: 0o600})
		if err == nil {
			slog.InfoContext(ctx, "token handed over, not revoked", "file", s.opts.TokenOut)
		}
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.client.Auth().Token().RevokeSelfWithContext(cctx, ""); err != nil {
		return fmt.Errorf("revoking the login token: %w", classify(err, "auth/token/revoke-self", "update"))
	}
	slog.DebugContext(ctx, "login token revoked")
	return nil
}

// Read reads one reference.
func (s *Source) Read(ctx context.Context, ref source.Ref) (*source.Secret, error) {
	p := strings.Trim(ref.URL.Host+ref.URL.Path, "/")
	q := ref.URL.Query()
	vr, err := parseRef(ref)
	if err != nil {
		return nil, retry.Permanent(err)
	}
	if vr.write {
		data := map[string]any{}
		for k, vs := range q {
			data[k] = vs[len(vs)-1]
		}
		secret, err := s.client.Logical().WriteWithContext(ctx, p, data)
		if err != nil {
			return nil, classify(err, p, "update")
		}
		if secret == nil {
			return nil, retry.Permanent(fmt.Errorf("writing %s: Vault returned no data", p))
		}
		return result(ref, p, "write", secret, secret.Data, nil), nil
	}
	m, err := s.mountOf(ctx, p, vr)
	if err != nil {
		return nil, err
	}
	if ref.URL.Query().Has("version") && m.kvVersion != 2 {
		return nil, retry.Permanent(fmt.Errorf("%s: ?version applies to KV version 2 only", p))
	}
	switch {
	case m.kvVersion == 2:
		return s.readKV2(ctx, ref, m, p, q)
	case m.kvVersion == 0 && m.engine == "":
		// Nothing known (lookup forbidden, no #kv=): try KV v2, then a plain read.
		sec, err2 := s.readKV2(ctx, ref, m, p, q)
		if err2 == nil {
			s.remember(mount{path: m.path, engine: "kv", kvVersion: 2})
			return sec, nil
		}
		if !errors.Is(err2, source.ErrNotFound) && !isForbidden(err2) {
			return nil, err2
		}
		sec, err1 := s.readPlain(ctx, ref, p, q, "read")
		switch {
		case err1 == nil:
			return sec, nil
		case isForbidden(err1) && isForbidden(err2):
			hint := ""
			if s.forbiddenLookup() {
				// Denied everywhere, the mount lookup too: as likely a bad token.
				hint = " (or the token is invalid or expired)"
			}
			return nil, retry.Permanent(fmt.Errorf("permission denied on %s (KV v2) and on %s: the token's policy needs \"read\" on one of them%s (add #kv=1 or #kv=2 to skip the guess)",
				kv2Path(m.path, p, "data"), p, hint))
		case errors.Is(err1, source.ErrNotFound):
			return nil, notFound("%s: nothing there, read as KV v2 (%s) or plainly", p, kv2Path(m.path, p, "data"))
		}
		return nil, err1
	}
	engine := m.engine
	if m.kvVersion == 1 {
		engine = "kv1"
	}
	return s.readPlain(ctx, ref, p, q, engine)
}

func (s *Source) forbiddenLookup() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupForbidden
}

func (s *Source) remember(m mount) {
	s.mu.Lock()
	s.mounts[m.path] = m
	s.mu.Unlock()
}

// mountOf finds the secrets engine that serves path p: from #kv= and
// #mount=, from the cache, or from sys/internal/ui/mounts (what `vault kv`
// asks). When the policy forbids that lookup, the mount is taken to be the
// first path element and the engine is left unknown.
func (s *Source) mountOf(ctx context.Context, p string, vr vaultRef) (mount, error) {
	first, _, _ := strings.Cut(p, "/")
	guess := mount{path: first}
	if vr.mount != "" {
		guess.path = vr.mount
		if !strings.HasPrefix(p, vr.mount+"/") {
			return mount{}, retry.Permanent(fmt.Errorf("%s: #mount=%s is not a prefix of the path", p, vr.mount))
		}
	}
	if vr.kv != 0 {
		guess.engine, guess.kvVersion = "kv", vr.kv
		return guess, nil
	}
	s.mu.Lock()
	for mp, m := range s.mounts {
		if p == mp || strings.HasPrefix(p, mp+"/") {
			s.mu.Unlock()
			return m, nil
		}
	}
	forbidden := s.lookupForbidden
	s.mu.Unlock()
	if forbidden {
		return guess, nil
	}
	secret, err := s.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+p)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusNotFound) {
			// Common under least privilege: guess instead, once per run.
			s.mu.Lock()
			s.lookupForbidden = true
			s.mu.Unlock()
			slog.DebugContext(ctx, "the token may not look up mounts; guessing the KV version", "path", p)
			return guess, nil
		}
		return mount{}, classify(err, "sys/internal/ui/mounts/"+p, "read")
	}
	if secret == nil || secret.Data == nil {
		return guess, nil
	}
	m := mount{path: strings.Trim(fmt.Sprint(secret.Data["path"]), "/"), engine: fmt.Sprint(secret.Data["type"])}
	if m.path == "" || m.path == "<nil>" {
		m.path = guess.path
	}
	if m.engine == "kv" || m.engine == "generic" {
		m.kvVersion = 1
		if opts, ok := secret.Data["options"].(map[string]any); ok && fmt.Sprint(opts["version"]) == "2" {
			m.kvVersion = 2
		}
	}
	s.remember(m)
	return m, nil
}

// kv2Path inserts KV v2's data/ or metadata/ after the mount.
func kv2Path(mountPath, p, kind string) string {
	kp := mountPath + "/" + kind + "/" + strings.TrimPrefix(strings.TrimPrefix(p, mountPath), "/")
	redact.Public(kp) // a path derived from the reference: the user's own text
	return kp
}

func (s *Source) readKV2(ctx context.Context, ref source.Ref, m mount, p string, q url.Values) (*source.Secret, error) {
	dp := kv2Path(m.path, p, "data")
	secret, err := s.client.Logical().ReadWithDataWithContext(ctx, dp, q)
	if err != nil {
		return nil, classify(err, dp, "read")
	}
	if secret == nil {
		return nil, notFound("%s (KV v2)", dp)
	}
	data, _ := secret.Data["data"].(map[string]any)
	meta, _ := secret.Data["metadata"].(map[string]any)
	if data == nil {
		// A deleted or destroyed version: its metadata is returned, its data not.
		return nil, notFound("%s (KV v2): the version is deleted or destroyed", dp)
	}
	return result(ref, dp, "kv2", secret, data, meta), nil
}

func (s *Source) readPlain(ctx context.Context, ref source.Ref, p string, q url.Values, engine string) (*source.Secret, error) {
	secret, err := s.client.Logical().ReadWithDataWithContext(ctx, p, q)
	if err != nil {
		return nil, classify(err, p, "read")
	}
	if secret == nil || secret.Data == nil {
		return nil, notFound("%s", p)
	}
	return result(ref, p, engine, secret, secret.Data, nil), nil
}

// Details are Vault's fields of a receipt entry.
type Details struct {
	Path          string `json:"path"`
	Engine        string `json:"engine,omitempty"` // kv1, kv2, or the mount type
	Version       int64  `json:"version,omitempty"`
	CreatedTime   string `json:"created_time,omitempty"`
	LeaseID       string `json:"lease_id,omitempty"`
	LeaseDuration int64  `json:"lease_duration_seconds,omitempty"`
	Renewable     bool   `json:"renewable,omitempty"`
}

// LogAttrs are what the "read" log line says of a secret.
func (d Details) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("path", d.Path), slog.String("engine", d.Engine), slog.Int64("version", d.Version),
		slog.Duration("lease_ttl", time.Duration(d.LeaseDuration)*time.Second)}
}

func result(ref source.Ref, p, engine string, secret *api.Secret, data, meta map[string]any) *source.Secret {
	d := Details{Path: p, Engine: engine, LeaseID: secret.LeaseID, LeaseDuration: int64(secret.LeaseDuration), Renewable: secret.Renewable}
	if meta != nil {
		if v, ok := meta["version"].(json.Number); ok {
			d.Version, _ = v.Int64()
		}
		d.CreatedTime, _ = meta["created_time"].(string)
	}
	r := source.Receipt{Ref: ref.Display, FetchedAt: time.Now().UTC(), Details: d}
	out := &source.Secret{Data: data, Receipt: r, Issued: engine == "write"}
	if secret.LeaseDuration > 0 {
		out.Expires = r.FetchedAt.Add(time.Duration(secret.LeaseDuration) * time.Second)
	}
	// A certificate from PKI's issue or sign: its notAfter, as PKI returns it.
	if n, ok := data["expiration"].(json.Number); ok && engine == "write" {
		if sec, err := n.Int64(); err == nil && sec > 0 && (out.Expires.IsZero() || time.Unix(sec, 0).Before(out.Expires)) {
			out.Expires = time.Unix(sec, 0)
		}
	}
	for k := range data {
		out.Receipt.Keys = append(out.Receipt.Keys, k)
	}
	slices.Sort(out.Receipt.Keys)
	// Every string value is a secret from here on.
	for _, v := range data {
		registerValues(v)
	}
	return out
}

func registerValues(v any) {
	switch x := v.(type) {
	case string:
		redact.Register(x)
	case map[string]any:
		for _, e := range x {
			registerValues(e)
		}
	case []any:
		for _, e := range x {
			registerValues(e)
		}
	}
}

func isForbidden(err error) bool {
	var fe *forbiddenError
	return errors.As(err, &fe)
}

// notFound is a permanent "names nothing" error.
func notFound(format string, args ...any) error {
	return retry.Permanent(fmt.Errorf(format+": %w", append(args, source.ErrNotFound)...))
}

// classify marks what waiting cannot fix as permanent (docs/design.md §4):
// sealed (503), standby (429), 5xx and connection errors are retried; 400,
// 403 (naming the path and capability), 404 and TLS failures are not.
func classify(err error, p, capability string) error {
	if errors.Is(err, errOtherHost) {
		return retry.Permanent(err)
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		if tlsconfig.IsVerificationError(err) {
			return retry.Permanent(fmt.Errorf("%s: %w; not retried: give Vault's CA with --ca-file or VAULT_CACERT", p, err))
		}
		return fmt.Errorf("%s: %w", p, unwrapURL(err)) // connection errors: retried
	}
	msg := vaultMessage(re.Errors)
	if msg == "" {
		msg = http.StatusText(re.StatusCode)
	}
	e := fmt.Errorf("%s: HTTP %d: %s", p, re.StatusCode, msg)
	switch code := re.StatusCode; {
	case code == http.StatusServiceUnavailable, code == http.StatusTooManyRequests, code == http.StatusPreconditionFailed,
		code >= 500 && code != http.StatusNotImplemented:
		return e // sealed, standby, overloaded: retried with backoff
	case code == http.StatusForbidden:
		return retry.Permanent(&forbiddenError{err: e, path: p, capability: capability})
	case code == http.StatusNotFound:
		return notFound("%v", e)
	}
	return retry.Permanent(e)
}

// vaultMessage flattens Vault's error strings, which often carry a
// go-multierror listing ("1 error occurred:\n\t* permission denied\n\n"),
// into one line.
func vaultMessage(errs []string) string {
	var parts []string
	for _, e := range errs {
		for _, line := range strings.Split(e, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
			if line == "" || strings.HasSuffix(line, "error occurred:") || strings.HasSuffix(line, "errors occurred:") {
				continue
			}
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

// forbiddenError is a 403 that says what the policy lacks.
type forbiddenError struct {
	err              error
	path, capability string
}

func (e *forbiddenError) Error() string {
	if e.capability == "login" {
		return fmt.Sprintf("%v; not retried: the role does not accept this identity (check the role's bound service accounts, namespaces, audiences or claims, and the role name)", e.err)
	}
	return fmt.Sprintf("%v; not retried: the token's policy needs the %q capability on path %q (or the token is invalid or expired)",
		e.err, e.capability, e.path)
}
func (e *forbiddenError) Unwrap() error { return e.err }

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
