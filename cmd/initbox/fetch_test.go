package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/vault/api"

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
		cmd.Env = append(cmd.Env, "VAULT_ADDR="+v.Addr, "INITBOX_FETCH_VAULT_TOKEN_FILE="+tokenFile, "INITBOX_TERMINATION_LOG="+termLog)
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

// SIGKILL in the middle of a prefix sync: the target still holds the old
// complete tree; the next run completes and leaves no leftovers.
func TestFetchS3KilledMidSync(t *testing.T) {
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	env := []string{"AWS_ACCESS_KEY_ID=" + testserver.MinIOUser, "AWS_SECRET_ACCESS_KEY=" + testserver.MinIOPassword, "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true"}
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")})
	put := func(version string) {
		for i := range 200 {
			_, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(fmt.Sprintf("set/f%03d", i)),
				Body: strings.NewReader(version)})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("data")}); err != nil {
		t.Fatal(err)
	}
	put("old")
	out := filepath.Join(t.TempDir(), "set")
	fetch := func(endpoint string) *exec.Cmd {
		cmd := command(t, "initbox", "fetch", "s3://data/set/", "--out", out+"/", "--s3-endpoint", endpoint, "--concurrency", "2")
		cmd.Env = append(cmd.Env, env...)
		return cmd
	}
	if out, err := fetch(m.Endpoint).CombinedOutput(); err != nil {
		t.Fatalf("first sync: %v\n%s", err, out)
	}
	put("new")
	// A slow path to MinIO, so the kill lands mid-sync.
	target, _ := url.Parse(m.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	var gets atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !r.URL.Query().Has("list-type") {
			gets.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
		rp.ServeHTTP(w, r)
	}))
	defer slow.Close()
	cmd := fetch(slow.URL)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for gets.Load() < 50 {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	check := func(want string) {
		t.Helper()
		for i := range 200 {
			b, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("f%03d", i)))
			if err != nil || string(b) != want {
				t.Fatalf("f%03d = %q, %v; want %q everywhere", i, b, err, want)
			}
		}
	}
	check("old")
	if out, err := fetch(m.Endpoint).CombinedOutput(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	check("new")
	versions := versionDirs(t, out)
	if versions != 1 {
		t.Errorf("%d version directories after the re-run, want 1", versions)
	}
}

// Canaries planted where a secret can hide — a #default, the token, a
// password in VAULT_ADDR's userinfo — appear in no stream, termination
// message or receipt on any path, error paths included; and a secret equal
// to a word of the reference (the password "secret" in vault://secret/…)
// does not turn the reference into vault://REDACTED/…, which would tell
// every reader the password.
func TestFetchLeaksNothing(t *testing.T) {
	const defCanary, tokCanary, urlCanary = "def-Canary-77x", "tok-Canary-88y", "url-Canary-99z"
	v := testserver.StartVault(t, testserver.VaultOptions{})
	kv := v.Client().KVv2("secret")
	if _, err := kv.Put(t.Context(), "app", map[string]any{"password": "secret", "user": "app"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(v.RootToken), 0o600)
	badToken := filepath.Join(dir, "bad-token")
	os.WriteFile(badToken, []byte(tokCanary), 0o600)
	addr := strings.Replace(v.Addr, "://", "://user:"+urlCanary+"@", 1)
	for i, tc := range []struct {
		args  []string
		token string
		code  int
	}{
		{[]string{"vault://secret/app#key=missing,default=${DEFPW}", "--out", filepath.Join(dir, "pw"), "--receipt", filepath.Join(dir, "r1.json")}, tokenFile, 0},
		{[]string{"vault://secret/app#key=nope,default=${DEFPW}", "vault://secret/app#password", "--out", filepath.Join(dir, "x.json"), "--receipt", filepath.Join(dir, "r2.json")}, tokenFile, 0},
		{[]string{"vault://secret/app/missing#key=password", "--out", filepath.Join(dir, "y")}, tokenFile, 1},
		{[]string{"vault://secret/app#nope", "--out", filepath.Join(dir, "z")}, tokenFile, 1},
		{[]string{"vault://secret/app#password", "--out", filepath.Join(dir, "w")}, badToken, 1},
		{[]string{"vault://secret/app#key=password,default=%zz${DEFPW}", "--out", filepath.Join(dir, "v")}, tokenFile, 2},
		{[]string{"vault://secret/app", "--out", filepath.Join(dir, "no", "such", "dir", "a.env")}, tokenFile, 1},
		{[]string{"vault://secret/app#key=gone,default=" + defCanary, "vault://secret/app#nope", "--out", filepath.Join(dir, "u.json"), "--receipt", filepath.Join(dir, "r3.json")}, tokenFile, 1},
		{[]string{"vault://secret/app#key=gone,default=" + defCanary, "--out", filepath.Join(dir, "t"), "--receipt", filepath.Join(dir, "r4.json")}, tokenFile, 0},
	} {
		termLog := filepath.Join(dir, "termination-log")
		os.Remove(termLog)
		cmd := command(t, "initbox", append([]string{"fetch"}, tc.args...)...)
		cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "INITBOX_FETCH_VAULT_TOKEN_FILE="+tc.token, "INITBOX_TERMINATION_LOG="+termLog,
			"DEFPW="+defCanary, "INITBOX_LOG_LEVEL=debug")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if exitCode(err) != tc.code {
			t.Fatalf("run %d: exit %d, want %d\n%s", i, exitCode(err), tc.code, stderr.String())
		}
		tl, _ := os.ReadFile(termLog)
		for name, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "termination message": string(tl)} {
			for _, c := range []string{defCanary, tokCanary, urlCanary, v.RootToken} {
				if strings.Contains(text, c) {
					t.Errorf("run %d: %s leaks %q:\n%s", i, name, c, text)
				}
			}
			if strings.Contains(text, "vault://"+"REDACTED") {
				t.Errorf("run %d: %s scrubbed the reference, telling the password:\n%s", i, name, text)
			}
		}
		if i == 2 && !strings.Contains(stderr.String(), "vault://secret/app/missing") {
			t.Errorf("run 2: the reference should be shown as written:\n%s", stderr.String())
		}
		if i == 6 && !strings.Contains(stderr.String(), "does not exist: create it") {
			t.Errorf("run 6: a missing directory should be said so:\n%s", stderr.String())
		}
	}
	for _, f := range []string{"r1.json", "r2.json", "r4.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if len(b) == 0 || strings.Contains(string(b), defCanary) {
			t.Errorf("%s: %s", f, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pw")); string(b) != defCanary {
		t.Errorf("the default did not reach the output: %q", b)
	}
}

// SIGTERM in the middle of a refresh (a KV read held up by a slow Vault)
// of a watching fetch: exit 0, as documented for a sidecar that is
// stopped; the file still holds the first version, nothing is staged beside
// it, and the token the AppRole login created is revoked.
func TestFetchWatchSIGTERMMidRefresh(t *testing.T) {
	v := testserver.StartVault(t, testserver.VaultOptions{})
	root := v.Client()
	if _, err := root.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "pw-one"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("app", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/app", map[string]any{"token_policies": "app"}); err != nil {
		t.Fatal(err)
	}
	rid, err := root.Logical().Read("auth/approle/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/approle/role/app/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	sidFile := filepath.Join(secrets, "secret-id")
	os.WriteFile(sidFile, []byte(sid.Data["secret_id"].(string)), 0o600)
	tokens := func() int {
		s, err := root.Logical().List("auth/token/accessors")
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Data["keys"].([]any))
	}

	target, _ := url.Parse(v.Addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	var hold atomic.Bool
	var revoked atomic.Int32
	held := make(chan struct{}, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() && strings.HasPrefix(r.URL.Path, "/v1/secret/data/") {
			select {
			case held <- struct{}{}:
			default:
			}
			<-r.Context().Done() // Vault hangs: the refresh is in progress
			return
		}
		if r.URL.Path == "/v1/auth/token/revoke-self" {
			revoked.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "pw")
	cmd := command(t, "initbox", "fetch", "vault://secret/app#password", "--out", out, "--watch", "--refresh", "1s",
		"--vault-auth", "approle", "--vault-role-id", rid.Data["role_id"].(string), "--vault-secret-id-file", sidFile)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+proxy.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(out); string(b) == "pw-one" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no first file:\n%s", stderr.String())
		}
	}
	withLogin := tokens()
	if _, err := root.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "pw-two"}); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatalf("no refresh reached Vault:\n%s", stderr.String())
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if exitCode(err) != 0 {
		t.Errorf("SIGTERM mid-refresh: exit %d, want 0\n%s", exitCode(err), stderr.String())
	}
	if b, _ := os.ReadFile(out); string(b) != "pw-one" {
		t.Errorf("the file after the stop: %q, want the first version, whole", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("beside the file: %v", entries)
	}
	if revoked.Load() != 1 || tokens() != withLogin-1 {
		t.Errorf("the login token was not revoked: %d revoke calls, %d tokens (with the login %d)", revoked.Load(), tokens(), withLogin)
	}
	if !strings.Contains(stderr.String(), `abandoned="a refresh in progress"`) {
		t.Errorf("the log does not say a refresh was abandoned:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "pw-") {
		t.Errorf("a value in the log:\n%s", stderr.String())
	}
}
