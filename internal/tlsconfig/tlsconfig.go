// Package tlsconfig builds the *tls.Config every initbox client uses
// (docs/design.md §7): verification always on unless InsecureSkipVerify is asked
// for (and then a warning is logged each time), an optional CA bundle, client
// certificates and a server name override.
//
// The binary embeds Mozilla's root certificates
// (golang.org/x/crypto/x509roots/fallback/bundle); EmbedRoots makes them
// the roots Go falls back to when the system has none, as in a FROM scratch
// image (SSL_CERT_FILE and SSL_CERT_DIR keep working). Parsing them costs a
// few milliseconds, so it happens when a command that connects starts (and
// in Config), not at process start: render, which never connects, skips it.
//
//	cfg, err := tlsconfig.Options{CAFile: "/etc/ca.pem"}.Config(ctx)
package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// EmbedRoots registers the embedded roots with x509.SetFallbackRoots, once;
// call it before the first TLS handshake. Config calls it.
var EmbedRoots = sync.OnceFunc(func() {
	p := x509.NewCertPool()
	for r := range bundle.Roots() {
		cert, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			panic(fmt.Sprintf("tlsconfig: an embedded root does not parse: %v", err))
		}
		if r.Constraint == nil {
			p.AddCert(cert)
		} else {
			p.AddCertWithConstraint(cert, r.Constraint)
		}
	}
	x509.SetFallbackRoots(p)
})

// Options are the TLS settings a user can give on the command line.
type Options struct {
	// CAFile is a PEM bundle that replaces the system roots for this client.
	CAFile string
	// ClientCert and ClientKey are PEM files for mutual TLS; both or neither.
	ClientCert string
	ClientKey  string
	// ServerName overrides the name checked against the server certificate
	// (and sent in SNI).
	ServerName string
	// InsecureSkipVerify turns verification off. Every use logs a warning.
	InsecureSkipVerify bool
}

// Given reports whether any TLS option was set: for protocols whose TLS is
// off unless asked for, a TLS flag is the asking.
func (o Options) Given() bool {
	return o.CAFile != "" || o.ClientCert != "" || o.ServerName != "" || o.InsecureSkipVerify
}

// ConfigFor is Config with the name to verify defaulting to host (when
// --server-name does not set it), for clients that dial TLS themselves.
func (o Options) ConfigFor(ctx context.Context, host string) (*tls.Config, error) {
	cfg, err := o.Config(ctx)
	if err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg, err
}

// Validate checks the options without reading any file.
func (o Options) Validate() error {
	if (o.ClientCert == "") != (o.ClientKey == "") {
		return errors.New("--client-cert and --client-key must be given together")
	}
	return nil
}

// Config returns a tls.Config for these options. File errors name the file
// and never its content.
func (o Options) Config(ctx context.Context) (*tls.Config, error) {
	EmbedRoots()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: o.ServerName,
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading CA file %s: no PEM certificate found", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			// The tls package's errors name files and PEM block types, never
			// key material.
			return nil, fmt.Errorf("loading client certificate %s and key %s: %w", o.ClientCert, o.ClientKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if o.InsecureSkipVerify {
		slog.WarnContext(ctx, "TLS certificate verification is disabled (--insecure-skip-verify); the connection can be intercepted")
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// IsVerificationError reports whether err is a failure to verify the peer's
// certificate, a handshake the peer rejected for a certificate or protocol
// reason, or a peer that does not speak TLS at all. None of these heal by
// waiting: retrying would only delay the message.
func IsVerificationError(err error) bool {
	if err == nil {
		return false
	}
	var (
		verr  *tls.CertificateVerificationError
		uerr  x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  x509.CertificateInvalidError
		rhe   tls.RecordHeaderError
		alert tls.AlertError
		operr *net.OpError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return true
	case errors.As(err, &rhe):
		// "first record does not look like a TLS handshake": a plain-text
		// server on a TLS port.
		return true
	case errors.As(err, &alert):
		return permanentAlert(uint8(alert))
	case errors.As(err, &operr) && operr.Op == "remote error":
		// crypto/tls reports an alert sent by the peer as an OpError around
		// its unexported alert type (a uint8); AlertError is for QUIC only.
		v := reflect.ValueOf(operr.Err)
		if v.IsValid() && v.Kind() == reflect.Uint8 && v.Type().PkgPath() == "crypto/tls" {
			return permanentAlert(uint8(v.Uint()))
		}
	}
	return false
}

// permanentAlert reports whether a TLS alert means a configuration mismatch
// (RFC 8446 §6.2) rather than a transient fault.
func permanentAlert(code uint8) bool {
	switch code {
	case 40, // handshake_failure
		42, 43, 44, 45, 46, // bad, unsupported, revoked, expired, unknown certificate
		48, 49, // unknown_ca, access_denied
		70, 71, // protocol_version, insufficient_security
		112, // unrecognized_name
		116: // certificate_required
		return true
	}
	return false
}
