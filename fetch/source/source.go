// Package source defines what `fetch` needs from a place secrets or objects
// come from: the reference syntax every source shares, the Source
// interfaces, the receipt, and the registry through which each source —
// one package of its own (fetch/vault, fetch/s3), with its options, flags
// and reference options — joins the command. A build tag leaves a source
// and its client library out of the binary.
package source

import (
	"context"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"
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
	// the one object. It stops with an error wrapping ErrTooMany past max
	// objects (a listing that never ends). Retried by the caller.
	List(ctx context.Context, ref Ref, max int) ([]Object, error)
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

// ErrTooMany is wrapped by List when a reference names more objects than
// asked for.
var ErrTooMany = errors.New("too many objects")

// Secret is what one reference read.
type Secret struct {
	// Data holds the values by name: strings, json.Number, bools, nested
	// maps and lists.
	Data map[string]any
	// Receipt describes what was read, without values.
	Receipt Receipt
	// Expires is when what was read stops being valid (a lease's end, a
	// certificate's notAfter); zero when it does not expire (KV). Under
	// --watch it is renewed, or read anew, at about two thirds of its life.
	Expires time.Time
	// Issued says that reading it again issues something new (a write:
	// a certificate): under --watch it is read again only before Expires,
	// never merely polled.
	Issued bool
}

// RenewAt is when a lease of length life that ends at end is renewed or
// read anew: at about two thirds of its life (Vault Agent's choice),
// jittered by ±5% of it so that many pods do not renew together.
func RenewAt(end time.Time, life time.Duration) time.Time {
	return end.Add(-life / 3).Add(time.Duration((rand.Float64() - 0.5) * 0.1 * float64(life)))
}

// A Keeper is a source that can keep what it gave valid while `fetch
// --watch` runs: its login, and the leases of what it read.
type Keeper interface {
	// KeepLogin renews the login (or logs in again) when that is due. It
	// returns when it is next due (zero: never) and whether it logged in
	// anew, in which case what the old login read must be read again (its
	// leases end with it).
	KeepLogin(ctx context.Context) (next time.Time, relogged bool, err error)
	// Renew extends the lease of what sec holds and returns the lease's new
	// end; a zero time says it cannot be renewed (read it anew).
	Renew(ctx context.Context, sec *Secret) (time.Time, error)
}

// Receipt is one entry of the receipt file: what every source records, and
// the source's own fields (Details: Vault's path, engine, version, lease).
type Receipt struct {
	Ref       string    `json:"ref"`
	Keys      []string  `json:"keys"`
	Missing   bool      `json:"missing,omitempty"` // an optional reference that named nothing
	FetchedAt time.Time `json:"fetched_at"`
	// Details are the source's own fields, written beside the ones above
	// (never values).
	Details Details `json:"-"`
}

// Details are a source's own receipt fields. They are marshalled into the
// receipt's object, and LogAttrs go on the "read" log line.
type Details interface {
	LogAttrs() []slog.Attr
}

// MarshalJSON writes the common fields and the details as one object.
func (r Receipt) MarshalJSON() ([]byte, error) {
	type common Receipt // without this method
	b, err := json.Marshal(common(r))
	if err != nil || r.Details == nil {
		return b, err
	}
	d, err := json.Marshal(r.Details)
	if err != nil {
		return nil, err
	}
	var all, own map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(d, &own); err != nil {
		return nil, err
	}
	for k, v := range own {
		if _, taken := all[k]; !taken {
			all[k] = v
		}
	}
	return json.Marshal(all) // a map's keys are written sorted

}
