package source

import (
	"strings"
	"testing"

	"github.com/initbox/initbox/internal/redact"
)

func TestParseRef(t *testing.T) {
	t.Setenv("INITBOX_TEST_ROLE", "web")
	tests := []struct {
		raw  string
		want Ref
	}{
		{"vault://secret/app/db", Ref{}},
		{"vault://secret/app/db#password", Ref{Key: "password"}},
		{"vault://secret/app/db#key=password,as=DB_PASSWORD", Ref{Key: "password", As: "DB_PASSWORD"}},
		{"vault://secret/app/db#password,optional", Ref{Key: "password", Optional: true}},
		{"vault://secret/app/db#key=optional", Ref{Key: "optional"}},
		{"vault://secret/app/db#kv=1", Ref{KV: 1}},
		{"vault://team/kv/app#mount=team/kv/,kv=2", Ref{Mount: "team/kv", KV: 2}},
		{"vault://pki/issue/${INITBOX_TEST_ROLE}?common_name=a.svc#write", Ref{Write: true}},
	}
	for _, tc := range tests {
		r, err := ParseRef(tc.raw)
		if err != nil {
			t.Fatalf("ParseRef(%s): %v", tc.raw, err)
		}
		if r.Key != tc.want.Key || r.As != tc.want.As || r.Optional != tc.want.Optional || r.KV != tc.want.KV || r.Write != tc.want.Write || r.Mount != tc.want.Mount {
			t.Errorf("ParseRef(%s) = %+v, want %+v", tc.raw, r, tc.want)
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
		"secret/app":                      "vault://MOUNT/PATH",
		"vault://secret/app#a,b":          "two keys",
		"vault://secret/app#kv=3":         "#kv=3",
		"vault://secret/app#as=X":         "#as= renames one key",
		"vault://secret/app#frobnicate=1": "unknown option #frobnicate",
		"vault://secret/${NOPE_UNSET_X}":  "NOPE_UNSET_X is not set",
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
