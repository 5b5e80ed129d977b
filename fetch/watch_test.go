package fetch

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/internal/watch"
)

// watching runs fetch --watch in the background; stop ends it (as SIGTERM
// does) and returns what Run returned.
func watching(t *testing.T, c Config, o watch.Options) (stop func() error) {
	t.Helper()
	c = short(c, 20*time.Second, 5*time.Second)
	if o.Interval == 0 {
		o.Interval, o.MaxInterval = 100*time.Millisecond, 500*time.Millisecond
	}
	c.Watch = &o
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// eventually waits until ok holds, failing after d.
func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// databaseRole mounts the database engine on a real PostgreSQL with role
// "app" of the given TTLs.
func databaseRole(t *testing.T, v *vaultEnv, ttl, maxTTL string) *testserver.Postgres {
	t.Helper()
	pg := testserver.StartPostgres(t, testserver.PostgresOptions{})
	must(t, v.root.Sys().Mount("database", &api.MountInput{Type: "database"}))
	_, err := v.root.Logical().Write("database/config/pg", map[string]any{"plugin_name": "postgresql-database-plugin",
		"connection_url": "postgresql://{{username}}:{{password}}@" + pg.Addr() + "/postgres?sslmode=disable",
		"username":       "postgres", "password": testserver.SuperPassword, "allowed_roles": "app"})
	must(t, err)
	_, err = v.root.Logical().Write("database/roles/app", map[string]any{"db_name": "pg", "default_ttl": ttl, "max_ttl": maxTTL,
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`})
	must(t, err)
	return pg
}

// login logs in to PostgreSQL with the credentials in dir.
func login(t *testing.T, pg *testserver.Postgres, dir string) error {
	t.Helper()
	user, pw := readFile(filepath.Join(dir, "username")), readFile(filepath.Join(dir, "password"))
	conn, err := pgconn.Connect(t.Context(), "postgres://"+url.UserPassword(user, pw).String()+"@"+pg.Addr()+"/postgres?connect_timeout=5")
	if err != nil {
		return err
	}
	return conn.Close(t.Context())
}

// Dynamic database credentials whose lease cannot be renewed past its max
// TTL are fetched anew before the old lease ends: the file changes at about
// two thirds of the lease, the new user logs in to PostgreSQL, the old one
// still works until its own end, and the expiry is on /metrics.
func TestWatchDatabaseCredentialsRotate(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	pg := databaseRole(t, v, "9s", "9s")
	dir := filepath.Join(t.TempDir(), "db")
	addr := testnet.FreeAddr(t)
	logs := testlog.Capture(t)
	stop := watching(t, Config{Refs: []string{"vault://database/creds/app"}, Out: dir + "/", Sources: vaultSource(v.opts(v.RootToken))},
		watch.Options{Refresh: time.Hour, HealthAddr: addr})
	eventually(t, 20*time.Second, "the first credentials", func() bool { return readFile(filepath.Join(dir, "username")) != "" })
	first, read := readFile(filepath.Join(dir, "username")), time.Now()
	must(t, login(t, pg, dir))
	metrics := get(t, "http://"+addr+"/metrics")
	if !strings.Contains(metrics, `initbox_watch_expiry_timestamp_seconds{command="fetch",ref="vault://database/creds/app"}`) {
		t.Errorf("no lease expiry on /metrics:\n%s", metrics)
	}
	oldDir := t.TempDir()
	for _, f := range []string{"username", "password"} {
		os.WriteFile(filepath.Join(oldDir, f), []byte(readFile(filepath.Join(dir, f))), 0o600)
	}
	eventually(t, 9*time.Second, "new credentials before the old lease ended", func() bool { return readFile(filepath.Join(dir, "username")) != first })
	if took := time.Since(read); took < 4*time.Second || took > 8*time.Second {
		t.Errorf("rotated after %s, want about two thirds of the 9s lease", took)
	}
	must(t, login(t, pg, dir))
	if err := login(t, pg, oldDir); err != nil {
		t.Errorf("the old credentials stopped working before their lease ended: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stopped watch: %v", err)
	}
	if !strings.Contains(logs.String(), `msg=republished`) || !strings.Contains(logs.String(), `changed=[vault://database/creds/app]`) {
		t.Errorf("no republished line naming the reference:\n%s", logs)
	}
}

// A renewable lease is renewed, not replaced: the same user keeps working
// past the end of its first lease, in PostgreSQL too (the plugin moves its
// VALID UNTIL).
func TestWatchRenewsALease(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	pg := databaseRole(t, v, "6s", "1h")
	dir := filepath.Join(t.TempDir(), "db")
	logs := testlog.Capture(t)
	watching(t, Config{Refs: []string{"vault://database/creds/app"}, Out: dir + "/", Sources: vaultSource(v.opts(v.RootToken))}, watch.Options{Refresh: time.Hour})
	eventually(t, 20*time.Second, "the first credentials", func() bool { return readFile(filepath.Join(dir, "username")) != "" })
	user := readFile(filepath.Join(dir, "username"))
	time.Sleep(10 * time.Second)
	if got := readFile(filepath.Join(dir, "username")); got != user {
		t.Fatalf("the credentials were replaced (%s → %s), want the lease renewed", user, got)
	}
	if err := login(t, pg, dir); err != nil {
		t.Errorf("after its first lease the renewed user cannot log in: %v", err)
	}
	if n := strings.Count(logs.String(), "msg=renewed"); n < 2 {
		t.Errorf("%d renewals in 10s of a 6s lease, want at least 2:\n%s", n, logs)
	}
}

// A new KV v2 version is published, and the application is told once; a
// poll that finds the same version rewrites nothing.
func TestWatchKVNewVersion(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	posts := testnet.RecordPosts(t)
	logs := testlog.Capture(t)
	out := filepath.Join(t.TempDir(), "db.env")
	receipt := filepath.Join(t.TempDir(), "receipt.json")
	watching(t, Config{Refs: []string{"vault://secret/app/db"}, Out: out, Receipt: receipt, Sources: vaultSource(v.opts(v.appToken(t)))},
		watch.Options{Refresh: time.Second, Notify: watch.Notify{URL: posts.URL + "/reload", Debounce: 50 * time.Millisecond}})
	eventually(t, 20*time.Second, "the first file", func() bool { return strings.Contains(readFile(out), "pw-v3-Canary") })
	before, _ := os.Stat(out)
	time.Sleep(2500 * time.Millisecond) // two polls of the same version
	if after, _ := os.Stat(out); !os.SameFile(before, after) {
		t.Errorf("an unchanged version was written again")
	}
	_, err := v.root.KVv2("secret").Put(t.Context(), "app/db", map[string]any{"username": "app", "password": "pw-v4-Canary", "port": 5432})
	must(t, err)
	eventually(t, 5*time.Second, "version 4 published", func() bool { return strings.Contains(readFile(out), "pw-v4-Canary") })
	// The receipt follows the file.
	eventually(t, 5*time.Second, "the receipt rewritten", func() bool { return strings.Contains(readFile(receipt), `"version": 4`) })
	eventually(t, 5*time.Second, "the application told", func() bool { return len(posts.Bodies()) > 0 })
	time.Sleep(1500 * time.Millisecond)
	if got := posts.Bodies(); len(got) != 1 || got[0] != "vault://secret/app/db\n" {
		t.Errorf("notifications: %q, want one naming the reference", got)
	}
	// The token (made without the default policy) cannot look itself up:
	// that is said once, and no refresh fails for it.
	if strings.Contains(logs.String(), "refresh failed") || strings.Count(logs.String(), "cannot look itself up") != 1 {
		t.Errorf("a token without lookup-self:\n%s", logs)
	}
}

// A certificate from PKI is issued anew before it expires, and only then
// (a write is never merely polled).
func TestWatchPKIReissue(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	pkiRole(t, v, map[string]any{"not_before_duration": "1s"})
	dir := filepath.Join(t.TempDir(), "tls")
	serial := func() (string, time.Time) {
		block, _ := pem.Decode([]byte(readFile(filepath.Join(dir, "certificate"))))
		if block == nil {
			return "", time.Time{}
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", time.Time{}
		}
		return c.SerialNumber.String(), c.NotAfter
	}
	watching(t, Config{Refs: []string{"vault://pki/issue/web?common_name=web.shop.svc&ttl=9s#write"}, Out: dir, Format: DirFormat, Sources: vaultSource(v.opts(v.RootToken))},
		watch.Options{Refresh: time.Second})
	eventually(t, 20*time.Second, "the first certificate", func() bool { s, _ := serial(); return s != "" })
	first, notAfter := serial()
	time.Sleep(2500 * time.Millisecond)
	if s, _ := serial(); s != first {
		t.Fatalf("the certificate was issued again after %s of 9s (polled like a KV secret)", 2500*time.Millisecond)
	}
	eventually(t, 8*time.Second, "a new certificate", func() bool { s, _ := serial(); return s != first })
	if now := time.Now(); !now.Before(notAfter) {
		t.Errorf("the new certificate came at %s, after the old one's notAfter %s", now, notAfter)
	}
}

// A write whose answer has no end (random bytes from sys/tools) is made
// once: a watch never repeats it, however often it polls.
func TestWatchWriteWithoutEndIsNotRepeated(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	out := filepath.Join(t.TempDir(), "nonce")
	watching(t, Config{Refs: []string{"vault://sys/tools/random/16#key=random_bytes,write"}, Out: out, Sources: vaultSource(v.opts(v.RootToken))},
		watch.Options{Refresh: time.Second})
	eventually(t, 20*time.Second, "the first file", func() bool { return readFile(out) != "" })
	first := readFile(out)
	time.Sleep(2500 * time.Millisecond)
	if got := readFile(out); got != first {
		t.Errorf("the write was repeated by a poll: %q → %q", first, got)
	}
}

// Vault away (sealed) during refreshes: the files are kept, the failures
// counted; once it is back, a new version is published.
func TestWatchVaultAwayKeepsFiles(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	out := filepath.Join(t.TempDir(), "pw")
	addr := testnet.FreeAddr(t)
	watching(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Timeout: 2 * time.Second, Sources: vaultSource(v.opts(v.RootToken))},
		watch.Options{Refresh: time.Second, HealthAddr: addr})
	eventually(t, 20*time.Second, "the first file", func() bool { return readFile(out) == "pw-v3-Canary" })
	v.Seal()
	eventually(t, 15*time.Second, "a failed refresh counted", func() bool {
		return strings.Contains(get(t, "http://"+addr+"/metrics"), `initbox_watch_failures_total{command="fetch"} 1`)
	})
	if got := readFile(out); got != "pw-v3-Canary" {
		t.Errorf("while Vault was away the file became %q", got)
	}
	if r, _ := http.Get("http://" + addr + "/readyz"); r == nil || r.StatusCode != 200 {
		t.Errorf("not ready while Vault is away: %v", r)
	}
	must(t, v.Unseal())
	_, err := v.Client().KVv2("secret").Put(t.Context(), "app/db", map[string]any{"password": "pw-v4-Canary"})
	must(t, err)
	eventually(t, 15*time.Second, "the new version after Vault came back", func() bool { return readFile(out) == "pw-v4-Canary" })
}

// The login token is renewed and, at its max TTL, replaced by a new login;
// reading goes on through it. When the watch is stopped, the token it
// holds is revoked, and a stop during a refresh leaves nothing staged.
func TestWatchLoginKeptAndRevoked(t *testing.T) {
	v := startVault(t, testserver.VaultOptions{})
	must(t, v.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}))
	_, err := v.root.Logical().Write("auth/approle/role/app", map[string]any{"token_policies": "app", "token_ttl": "3s", "token_max_ttl": "5s"})
	must(t, err)
	rid, _ := v.root.Logical().Read("auth/approle/role/app/role-id")
	sid, _ := v.root.Logical().Write("auth/approle/role/app/secret-id", nil)
	f := filepath.Join(t.TempDir(), "sid")
	os.WriteFile(f, []byte(sid.Data["secret_id"].(string)), 0o600)
	o := v.opts("")
	o.Auth, o.RoleID, o.SecretIDFile = "approle", rid.Data["role_id"].(string), f
	before := countTokens(t, v)
	dir := t.TempDir()
	out := filepath.Join(dir, "pw")
	logs := testlog.Capture(t)
	stop := watching(t, Config{Refs: []string{"vault://secret/app/db#password"}, Out: out, Sources: vaultSource(o)}, watch.Options{Refresh: time.Second})
	eventually(t, 20*time.Second, "the first file", func() bool { return readFile(out) == "pw-v3-Canary" })
	time.Sleep(7 * time.Second) // past the first token's max TTL
	_, err = v.root.KVv2("secret").Put(t.Context(), "app/db", map[string]any{"password": "pw-v4-Canary"})
	must(t, err)
	eventually(t, 5*time.Second, "a version read with a later login", func() bool { return readFile(out) == "pw-v4-Canary" })
	for _, want := range []string{"renewed the Vault token", "logged in to Vault"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the logs:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs.String(), "logged in to Vault"); n < 2 {
		t.Errorf("%d logins, want a new one at the max TTL", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Tokens of earlier logins expire on their own within 5s; the last is revoked.
	eventually(t, 10*time.Second, "no token of initbox's left", func() bool { return countTokens(t, v) == before })
	if !strings.Contains(logs.String(), "login token revoked") {
		t.Errorf("the last token was not revoked:\n%s", logs)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "pw" {
			t.Errorf("left in the output directory: %s", e.Name())
		}
	}
}

// --watch is for files; its options are checked before anything is read.
func TestWatchUsage(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Refs: []string{"vault://secret/app"}, Out: "-", Watch: &watch.Options{}}, "not -"},
		{Config{Refs: []string{"vault://secret/app"}, Out: "a.env", Watch: &watch.Options{HealthAddr: "8099"}}, "--health-addr"},
		{Config{Refs: []string{"vault://secret/app"}, Out: "a.env", Watch: &watch.Options{Notify: watch.Notify{Signal: "HUP"}}}, "--on-change-process"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c.Watch, err, tc.want)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// A changed MinIO object under a watched prefix is downloaded and the tree
// republished; the others are reused, and an unchanged listing downloads
// nothing.
func TestWatchS3Prefix(t *testing.T) {
	m := startMinIO(t, false)
	m.bucket(t, "models", false)
	m.put(t, "models", "resnet/weights.bin", []byte("weights v1"))
	m.put(t, "models", "resnet/labels.txt", []byte("cat\ndog\n"))
	dir := filepath.Join(t.TempDir(), "model")
	logs := testlog.Capture(t)
	watching(t, Config{Refs: []string{"s3://models/resnet/"}, Out: dir + "/", Sources: s3Source(m.opts())}, watch.Options{Refresh: time.Second})
	eventually(t, 20*time.Second, "the first tree", func() bool { return readFile(filepath.Join(dir, "weights.bin")) == "weights v1" })
	time.Sleep(2500 * time.Millisecond)
	if n := strings.Count(logs.String(), "msg=republished"); n != 0 {
		t.Errorf("an unchanged prefix was republished %d times", n)
	}
	m.put(t, "models", "resnet/weights.bin", []byte("weights v2"))
	// The republished line follows the rename, so wait for both.
	eventually(t, 5*time.Second, "the changed object", func() bool {
		return readFile(filepath.Join(dir, "weights.bin")) == "weights v2" && strings.Contains(logs.String(), "msg=republished")
	})
	if got := readTree(t, dir); got["labels.txt"] != "cat\ndog\n" || len(got) != 2 {
		t.Errorf("tree after the change: %v", got)
	}
	if n := strings.Count(logs.String(), "msg=republished"); n != 1 {
		t.Errorf("%d republished lines, want 1:\n%s", n, logs)
	}
}
