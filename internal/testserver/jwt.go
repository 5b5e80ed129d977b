package testserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"
)

// JWTSigner signs RS256 JSON Web Tokens with a key made for the test, so
// that a real server (Vault's jwt auth) can be configured to trust it.
type JWTSigner struct {
	key *rsa.PrivateKey
}

// NewJWTSigner makes a 2048-bit RSA key.
func NewJWTSigner(t testing.TB) *JWTSigner {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &JWTSigner{key: k}
}

// PublicKeyPEM is the public key, as Vault's jwt_validation_pubkeys wants it.
func (s *JWTSigner) PublicKeyPEM(t testing.TB) string {
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Sign returns a compact JWS of claims.
func (s *JWTSigner) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "initbox-test"})
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}
