package expand

import (
	"net/url"
	"strings"
	"testing"

	"github.com/initbox/initbox/internal/redact"
)

func TestSecret(t *testing.T) {
	t.Setenv("TOKEN", "tok-expand-1234")
	t.Setenv("EMPTY", "")
	tests := []struct {
		in, want, err string
	}{
		{"Bearer ${TOKEN}", "Bearer tok-expand-1234", ""},
		{"no vars $HOME $ alone", "no vars $HOME $ alone", ""},
		{"literal $${TOKEN}", "literal ${TOKEN}", ""},
		{"${EMPTY}x", "x", ""},
		{"${UNSET_EXPAND_VAR}", "", "UNSET_EXPAND_VAR is not set"},
		{"${TOKEN", "", "unterminated"},
		{"${1BAD}", "", "not a variable name"},
		{"${}", "", "not a variable name"},
	}
	for _, tc := range tests {
		got, err := Secret(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Secret(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Secret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if redact.Scrub("tok-expand-1234") != redact.Placeholder {
		t.Error("expanded value not registered as a secret")
	}
}

func TestURL(t *testing.T) {
	t.Setenv("PGPASS", "p@ss:w/rd#1 +%")
	t.Setenv("DB_HOST", "db.internal")
	t.Setenv("APIKEY", "key&=value")
	t.Setenv("REGION", "eu-west-1")
	got, err := URL("postgres://app:${PGPASS}@${DB_HOST}:5432/app?sslmode=disable&password=${APIKEY}&region=${REGION}#timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("expanded URL does not parse: %v (%s)", err, got)
	}
	pw, _ := u.User.Password()
	if pw != "p@ss:w/rd#1 +%" || u.User.Username() != "app" {
		t.Errorf("userinfo = %q:%q", u.User.Username(), pw)
	}
	if u.Host != "db.internal:5432" || u.Fragment != "timeout=5s" {
		t.Errorf("host %q fragment %q", u.Host, u.Fragment)
	}
	q := u.Query()
	if q.Get("password") != "key&=value" || q.Get("region") != "eu-west-1" || q.Get("sslmode") != "disable" {
		t.Errorf("query = %v", q)
	}
	// Secrets are registered; a host name is not (it must stay readable).
	for _, secret := range []string{"p@ss:w/rd#1 +%", "key&=value"} {
		if redact.Scrub("x "+secret) != "x "+redact.Placeholder {
			t.Errorf("%q not registered", secret)
		}
	}
	for _, public := range []string{"db.internal", "eu-west-1"} {
		if redact.Scrub(public) != public {
			t.Errorf("%q registered as a secret", public)
		}
	}
}
