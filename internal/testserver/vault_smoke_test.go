package testserver

import "testing"

func TestVaultStarts(t *testing.T) {
	v := StartVault(t, VaultOptions{TLS: true})
	c := v.Client()
	if _, err := c.KVv2("secret").Put(t.Context(), "smoke", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	v.Seal()
	if _, err := c.KVv2("secret").Get(t.Context(), "smoke"); err == nil {
		t.Fatal("read succeeded on a sealed Vault")
	}
	if err := v.Unseal(); err != nil {
		t.Fatal(err)
	}
	if s, err := c.KVv2("secret").Get(t.Context(), "smoke"); err != nil || s.Data["a"] != "b" {
		t.Fatalf("after unseal: %v %v", s, err)
	}
}
