package redact

import (
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "tcp://db:5432", "tcp://db:5432"},
		{"password", "postgres://app:s3cr3t@db:5432/app", "postgres://REDACTED@db:5432/app"},
		{"token as user", "https://ghp_abcdef@github.com/x.git", "https://REDACTED@github.com/x.git"},
		{"sensitive query", "https://s3/obj?X-Amz-Signature=abc&X-Amz-Date=20260101", "https://s3/obj?X-Amz-Date=20260101&X-Amz-Signature=REDACTED"},
		{"harmless query kept", "file:///data?nonempty=1", "file:///data?nonempty=1"},
		{"access_token", "http://api/health?access_token=zzzz", "http://api/health?access_token=REDACTED"},
		{"ipv6", "tcp://[::1]:5432", "tcp://[::1]:5432"},
		{"query as written", "k8s://pod/web-0?condition=Ready=False&namespace=b", "k8s://pod/web-0?condition=Ready=False&namespace=b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := URL(u); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := URLString(tc.in); got != tc.want {
				t.Errorf("URLString(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestURLStringUnparseable(t *testing.T) {
	// A space in the host makes url.Parse fail; its error would quote the
	// whole string, password included.
	raw := "postgres://app:hunter22@db host:5432/x?password=zzz"
	//lint:ignore SA1007 the point of the test is a URL that does not parse
	if _, err := url.Parse(raw); err == nil {
		t.Fatal("test input must not parse")
	}
	got := URLString(raw)
	for _, secret := range []string{"hunter22", "zzz"} {
		if strings.Contains(got, secret) {
			t.Errorf("URLString(%q) = %q leaks %q", raw, got, secret)
		}
	}
}

func TestScrub(t *testing.T) {
	Register("canary-Secret-Value-1\n", "abc") // "abc" is too short to scrub by value
	tests := []struct {
		name, in, want string
	}{
		{"registered value", "auth failed: canary-Secret-Value-1 rejected", "auth failed: REDACTED rejected"},
		{"registered value without newline", "x=canary-Secret-Value-1", "x=REDACTED"},
		{"short values are not scrubbed", "abc is fine", "abc is fine"},
		{"userinfo in free text", `Get "https://u:p@host/x": EOF`, `Get "https://REDACTED@host/x": EOF`},
		{"query in free text", `Get "http://h/x?token=t0k&a=1": EOF`, `Get "http://h/x?token=REDACTED&a=1": EOF`},
		{"no url", "connection refused", "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scrub(tc.in); got != tc.want {
				t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRegisterLongestFirst(t *testing.T) {
	Register("outer-secret-with-inner", "inner")
	if got := Scrub("x outer-secret-with-inner y"); got != "x REDACTED y" {
		t.Errorf("got %q", got)
	}
}

func TestSensitiveParam(t *testing.T) {
	for _, n := range []string{"password", "X-Amz-Security-Token", "api_key", "sig", "Authorization", "sslpassword"} {
		if !SensitiveParam(n) {
			t.Errorf("SensitiveParam(%q) = false", n)
		}
	}
	for _, n := range []string{"nonempty", "type", "service", "sslmode", "timeout"} {
		if SensitiveParam(n) {
			t.Errorf("SensitiveParam(%q) = true", n)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	path := t.TempDir() + "/token"
	if err := os.WriteFile(path, []byte("file-secret-9q8w\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSecretFile(path)
	if err != nil || got != "file-secret-9q8w" {
		t.Fatalf("got %q, %v", got, err)
	}
	if s := Scrub("token is file-secret-9q8w"); s != "token is REDACTED" {
		t.Errorf("value not registered: %q", s)
	}
	_, err = ReadSecretFile(t.TempDir() + "/missing")
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("err = %v, want the path named", err)
	}
}

// A secret's value inside text the user wrote is left there: scrubbing it
// would tell the reader the password. Elsewhere it is scrubbed.
func TestPublicTextIsNotScrubbed(t *testing.T) {
	Register("secret")
	Public("vault://secret/app/missing")
	got := Scrub("vault://secret/app/missing: no key; the server said: password secret is wrong")
	want := "vault://secret/app/missing: no key; the server said: password " + Placeholder + " is wrong"
	if got != want {
		t.Errorf("Scrub = %q\nwant    %q", got, want)
	}
	Register("1234")
	Public("path/0/1/2")
	if got := Scrub("path/0/1/2 1234"); got != "path/0/1/2 "+Placeholder {
		t.Errorf("markers: %q", got)
	}
}
