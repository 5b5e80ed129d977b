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
		o    source.VaultOptions
		want string
	}{
		{source.VaultOptions{Auth: "kubernetes"}, "needs --role"},
		{source.VaultOptions{Auth: "jwt", Role: "r"}, "--jwt-file"},
		{source.VaultOptions{Auth: "approle", SecretIDFile: "x"}, "--role-id"},
		{source.VaultOptions{Auth: "approle", RoleID: "r"}, "--secret-id-file"},
		{source.VaultOptions{Auth: "ldap"}, `--auth "ldap"`},
		{source.VaultOptions{TokenOut: "/x"}, "--token-out"},
	} {
		_, err := New(context.Background(), tc.o, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}
