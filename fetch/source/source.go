// Package source defines what `fetch` needs from a place secrets or objects
// come from (Vault now; S3 next): the reference syntax shared by all of them,
// the Source interface, and each source's options as plain data — so that a
// source can be compiled out with a build tag without its client library.
package source

import (
	"context"
	"errors"
	"hash"
	"io"
	"time"

	"github.com/initbox/initbox/internal/tlsconfig"
)

// A Source is where references point. Open authenticates (retried by the
// caller); Close releases what Open acquired (revokes a token) and runs
// once, even after a failure. Errors that waiting cannot fix are marked with
// retry.Permanent; a reference that names nothing wraps ErrNotFound.
type Source interface {
	Open(ctx context.Context) error
	Close(ctx context.Context) error
	// CheckRef refuses options that make no sense for this source, before
	// anything is fetched.
	CheckRef(ref Ref) error
}

// A SecretSource reads small secrets whole (Vault).
type SecretSource interface {
	Source
	// Read reads one reference (retried by the caller).
	Read(ctx context.Context, ref Ref) (*Secret, error)
}

// An ObjectSource lists and streams objects (S3). The caller downloads,
// verifies and publishes them.
type ObjectSource interface {
	Source
	// List returns what a reference names: the objects under a prefix, or
	// the one object. Retried by the caller.
	List(ctx context.Context, ref Ref) ([]Object, error)
	// Get writes bytes [off, off+n) of obj to w; n < 0 means the whole
	// object, which the source verifies as it streams when it can (a stored
	// checksum, or the MD5 of a single-part ETag). Retried by the caller, who
	// truncates.
	Get(ctx context.Context, obj Object, off, n int64, w io.Writer) (GetInfo, error)
	// Verifier says how a download of obj in ranges is verified beyond its
	// size: the parts are not checked as they stream. It may ask the server
	// (retried by the caller).
	Verifier(ctx context.Context, obj Object) (Verifier, error)
}

// A Verifier checks a download's content: New returns a hash to feed every
// byte, in order, and Verify compares its sum. A zero Verifier checks
// nothing beyond the size.
type Verifier struct {
	What   string // e.g. "CRC32C checksum", "MD5 ETag", for logs
	New    func() hash.Hash
	Verify func(sum []byte) error
}

// Object is one object an ObjectSource found.
type Object struct {
	Ref       string // the reference that named it, for messages
	Bucket    string
	Key       string
	Name      string // where it goes: relative to the prefix, or the key's base name
	Size      int64
	ETag      string
	VersionID string
}

// GetInfo is what a Get learned about the object.
type GetInfo struct {
	// VerifiedBy says what a whole Get checked the content against ("" =
	// only the size could be checked).
	VerifiedBy string
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

// S3Options configure the S3 source. Empty fields fall back to the AWS
// SDK's environment and shared configuration (AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL_S3, …).
type S3Options struct {
	Endpoint  string // a custom endpoint (MinIO, Ceph, R2)
	Region    string // default: the environment, else discovered per bucket
	PathStyle bool   // bucket in the path, as MinIO wants; on with Endpoint
	Profile   string // a shared-config profile
	Anonymous bool   // no credentials: public buckets
	// SSECKeyFile holds the 32-byte key of objects encrypted with SSE-C
	// (raw, or base64).
	SSECKeyFile string
	TLS         tlsconfig.Options
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
