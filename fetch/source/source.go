// Package source defines what `fetch` needs from a place secrets or objects
// come from (Vault now; S3 next): the reference syntax shared by all of them,
// the Source interface, and each source's options as plain data — so that a
// source can be compiled out with a build tag without its client library.
package source

import (
	"context"
	"errors"
	"time"

	"github.com/initbox/initbox/internal/tlsconfig"
)

// A Source reads what references name. Open authenticates (retried by the
// caller), Read reads one reference (retried by the caller), Close releases
// what Open acquired (revokes a token) and runs once, even after a failure.
// Errors that waiting cannot fix are marked with retry.Permanent.
type Source interface {
	Open(ctx context.Context) error
	Read(ctx context.Context, ref Ref) (*Secret, error)
	Close(ctx context.Context) error
}

// ErrNotFound is wrapped by Read when the reference names nothing.
var ErrNotFound = errors.New("not found")

// Secret is what one reference read.
type Secret struct {
	// Data holds the values by name: strings, json.Number, bools, nested
	// maps and lists.
	Data map[string]any
	// Receipt describes what was read, without values: engine, version,
	// lease id and duration.
	Receipt Receipt
}

// Receipt is one entry of the receipt file.
type Receipt struct {
	Ref           string    `json:"ref"`
	Path          string    `json:"path"`
	Engine        string    `json:"engine,omitempty"` // kv1, kv2, or the mount type
	Version       int64     `json:"version,omitempty"`
	CreatedTime   string    `json:"created_time,omitempty"`
	LeaseID       string    `json:"lease_id,omitempty"`
	LeaseDuration int64     `json:"lease_duration_seconds,omitempty"`
	Renewable     bool      `json:"renewable,omitempty"`
	Keys          []string  `json:"keys"`
	Missing       bool      `json:"missing,omitempty"` // an optional reference that named nothing
	FetchedAt     time.Time `json:"fetched_at"`
}

// VaultOptions configure the Vault source. Empty fields fall back to the
// VAULT_* environment variables the Vault CLI reads.
type VaultOptions struct {
	Address   string // VAULT_ADDR
	Namespace string // VAULT_NAMESPACE
	TLS       tlsconfig.Options

	// Auth is token (default), kubernetes, approle or jwt.
	Auth      string
	AuthMount string // default: the method's name
	Role      string // kubernetes, jwt: the role; approle: see RoleID

	TokenFile       string // token: a file holding the token (else VAULT_TOKEN)
	JWTFile         string // kubernetes: the service account token; jwt: the JWT
	RoleID          string // approle
	RoleIDFile      string // approle
	SecretIDFile    string // approle
	SecretIDWrapped bool   // approle: the secret id file holds a response-wrapping token

	// TokenOut, if set, receives the token initbox logged in with (mode
	// 0600), which is then not revoked: the application takes it over.
	TokenOut string
}
