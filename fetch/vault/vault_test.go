package vault

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/initbox/initbox/fetch/source"
)

func TestVaultMessage(t *testing.T) {
	for in, want := range map[string]string{
		"1 error occurred:\n\t* permission denied\n\n": "permission denied",
		"2 errors occurred:\n\t* a\n\t* b\n\n":         "a; b",
		`invalid role name "x"`:                        `invalid role name "x"`,
		"Vault is sealed":                              "Vault is sealed",
	} {
		if got := vaultMessage([]string{in}); got != want {
			t.Errorf("vaultMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKV2Path(t *testing.T) {
	for _, tc := range [][4]string{
		{"secret", "secret/app/db", "data", "secret/data/app/db"},
		{"team/kv", "team/kv/app", "data", "team/kv/data/app"},
		{"secret", "secret/app", "metadata", "secret/metadata/app"},
	} {
		if got := kv2Path(tc[0], tc[1], tc[2]); got != tc[3] {
			t.Errorf("kv2Path(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[3])
		}
	}
}

func TestPinnedRefusesOtherHosts(t *testing.T) {
	p := &pinned{host: "vault:8200", next: http.DefaultTransport}
	req, _ := http.NewRequest(http.MethodGet, "https://elsewhere:8200/v1/secret", nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, errOtherHost) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewValidatesAuthOptions(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Auth: "kubernetes"}, "needs --vault-role"},
		{Options{Auth: "jwt", Role: "r"}, "--vault-jwt-file"},
		{Options{Auth: "approle", SecretIDFile: "x"}, "--vault-role-id"},
		{Options{Auth: "approle", RoleID: "r"}, "--vault-secret-id-file"},
		{Options{Auth: "ldap"}, `--vault-auth "ldap"`},
		{Options{TokenOut: "/x"}, "--vault-token-out"},
	} {
		_, err := New(context.Background(), tc.o, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestRefOptions(t *testing.T) {
	source.Register(Provider)
	for raw, want := range map[string]string{
		"vault://secret/app#kv=3":                  "#kv=3: use 1 or 2",
		"vault://pki/issue/web#write=yes":          "unknown option #write",
		"vault://pki/issue/web#write,kv=2":         "#write goes with neither",
		"vault://secret/app?version=2#write":       "#write goes with neither",
		"vault://secret/app#frobnicate=1":          "vault references take key=, as=, optional, default=, kv=, mount=, write",
		"vault://secret/app#mount=team/kv/,kv=2,x": "",
	} {
		ref, err := source.ParseRef(raw)
		if err == nil {
			err = (&Source{}).CheckRef(ref)
		}
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", raw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
	ref, _ := source.ParseRef("vault://team/kv/app#mount=team/kv/,kv=2")
	if v, err := parseRef(ref); err != nil || v.kv != 2 || v.mount != "team/kv" || v.write {
		t.Errorf("parseRef = %+v, %v", v, err)
	}
}
