package source

import (
	"encoding/json"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/initbox/initbox/internal/redact"
)

// A provider with options of its own, as Vault has.
func init() {
	Register(Provider{Scheme: "vault", RefOptions: []string{"kv=", "mount=", "write"}, Options: func() Options { return nil }})
	Register(Provider{Scheme: "s3", Objects: true, Options: func() Options { return nil }})
}

func TestParseRef(t *testing.T) {
	t.Setenv("INITBOX_TEST_ROLE", "web")
	tests := []struct {
		raw     string
		want    Ref
		options map[string]string
	}{
		{"vault://secret/app/db", Ref{}, nil},
		{"vault://secret/app/db#password", Ref{Key: "password"}, nil},
		{"vault://secret/app/db#key=password,as=DB_PASSWORD", Ref{Key: "password", As: "DB_PASSWORD"}, nil},
		{"vault://secret/app/db#password,optional", Ref{Key: "password", Optional: true}, nil},
		{"vault://secret/app/db#key=optional", Ref{Key: "optional"}, nil},
		{"vault://secret/app/db#kv=1", Ref{}, map[string]string{"kv": "1"}},
		{"vault://team/kv/app#mount=team/kv/,kv=2", Ref{}, map[string]string{"mount": "team/kv/", "kv": "2"}},
		{"vault://pki/issue/${INITBOX_TEST_ROLE}?common_name=a.svc#write", Ref{}, map[string]string{"write": ""}},
		// A source's bare option is a key for a source without it.
		{"s3://bucket/app#write", Ref{Key: "write"}, nil},
	}
	for _, tc := range tests {
		r, err := ParseRef(tc.raw)
		if err != nil {
			t.Fatalf("ParseRef(%s): %v", tc.raw, err)
		}
		if r.Key != tc.want.Key || r.As != tc.want.As || r.Optional != tc.want.Optional {
			t.Errorf("ParseRef(%s) = %+v, want %+v", tc.raw, r, tc.want)
		}
		if len(r.Options) != len(tc.options) || !maps.Equal(r.Options, tc.options) && len(tc.options) > 0 {
			t.Errorf("ParseRef(%s).Options = %v, want %v", tc.raw, r.Options, tc.options)
		}
		if r.URL.Fragment != "" {
			t.Errorf("%s: fragment left in the URL", tc.raw)
		}
	}
	r, _ := ParseRef("vault://secret/app#key=a,default=fallback value")
	if r.Default == nil || *r.Default != "fallback value" || !r.Optional {
		t.Errorf("default: %+v", r)
	}
	r, _ = ParseRef("vault://pki/issue/${INITBOX_TEST_ROLE}?common_name=a.svc#write")
	if r.URL.Path != "/issue/web" || r.URL.Query().Get("common_name") != "a.svc" {
		t.Errorf("expansion or query lost: %v", r.URL)
	}
}

func TestParseRefErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"secret/app":                      "SCHEME://LOCATION",
		"vault://secret/app#a,b":          "two keys",
		"vault://secret/app#as=X":         "#as= renames one key",
		"vault://secret/app#frobnicate=1": "unknown option #frobnicate; vault references take key=, as=, optional, default=, kv=, mount=, write",
		"s3://bucket/app#kv=2":            "unknown option #kv; s3 references take key=, as=, optional, default=",
		"vault://secret/${NOPE_UNSET_X}":  "NOPE_UNSET_X is not set",
		"gs://bucket/app":                 `unknown scheme "gs"; this build fetches from s3://, vault://`,
	} {
		_, err := ParseRef(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRef(%s) = %v, want %q", raw, err, want)
		}
	}
}

func TestRefDisplayIsRedacted(t *testing.T) {
	r, err := ParseRef("vault://secret/app?token=tok-DISPLAY-9#password")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Display, "tok-DISPLAY-9") || !strings.Contains(r.Display, redact.Placeholder) {
		t.Errorf("Display = %q", r.Display)
	}
}

type leaseDetails struct {
	Path    string `json:"path"`
	LeaseID string `json:"lease_id,omitempty"`
	Ref     string `json:"ref"` // a common field's name: the common field wins
}

func (leaseDetails) LogAttrs() []slog.Attr { return nil }

func TestReceiptCarriesTheSourcesFields(t *testing.T) {
	r := Receipt{Ref: "vault://secret/app", Keys: []string{"a"}, Details: leaseDetails{Path: "secret/data/app", LeaseID: "l-1", Ref: "other"}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fetched_at":"0001-01-01T00:00:00Z","keys":["a"],"lease_id":"l-1","path":"secret/data/app","ref":"vault://secret/app"}`
	if string(b) != want {
		t.Errorf("receipt = %s\nwant      %s", b, want)
	}
	b, _ = json.Marshal(Receipt{Ref: "x", Keys: []string{}, Missing: true})
	if want := `{"ref":"x","keys":[],"missing":true,"fetched_at":"0001-01-01T00:00:00Z"}`; string(b) != want {
		t.Errorf("receipt without details = %s, want %s", b, want)
	}
}

// A default is a secret: never shown, registered for scrubbing; ${VAR} in
// an option is replaced after the options are split, so a value can
// neither add an option nor be cut at a comma, and a %-escape in it is not
// decoded or printed.
func TestRefOptionsAreSplitBeforeExpansion(t *testing.T) {
	t.Setenv("INITBOX_TEST_DEFPW", "x,key=user")
	t.Setenv("INITBOX_TEST_PCT", "50%zz,optional")
	r, err := ParseRef("vault://secret/app#key=password,default=${INITBOX_TEST_DEFPW}")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != "password" || r.Default == nil || *r.Default != "x,key=user" {
		t.Errorf("key %q, default %v: the value added an option", r.Key, r.Default)
	}
	if strings.Contains(r.Display, "x,key=user") || !strings.Contains(r.Display, "default="+redact.Placeholder) {
		t.Errorf("Display = %q shows the default", r.Display)
	}
	if got := redact.Scrub("value x,key=user here"); strings.Contains(got, "x,key=user") {
		t.Errorf("the default is not registered as a secret: %q", got)
	}
	r, err = ParseRef("vault://secret/app#key=pw,default=${INITBOX_TEST_PCT}")
	if err != nil || *r.Default != "50%zz,optional" || r.Optional != true {
		t.Errorf("default = %v, err %v", r.Default, err)
	}
	r, err = ParseRef("vault://secret/app#key=a%2Cb")
	if err != nil || r.Key != "a,b" {
		t.Errorf("a written %%-escape: key %q, %v", r.Key, err)
	}
	_, err = ParseRef("vault://secret/app#key=pw,default=s3cr%zzet")
	if err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Errorf("a bad escape in a default: %v", err)
	}
}
