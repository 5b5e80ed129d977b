// Package check defines what every wait target implements: a Checker that
// reports whether one dependency is ready, and the NotReady marker that tells
// "may become ready, keep waiting" apart from "waiting cannot help".
//
// Checkers for new schemes (in their own packages) implement Checker and wrap
// retryable errors with NotReady:
//
//	func (c *myChecker) Check(ctx context.Context) error {
//		if err := ping(ctx); err != nil {
//			return check.Net(err) // NotReady unless it is a TLS or permission failure
//		}
//		return nil
//	}
package check

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"

	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// A Checker reports whether one dependency is ready. Check returns nil when
// it is, a NotReady error when it may become ready, and any other error when
// waiting longer cannot help (bad URL, TLS failure, 401).
type Checker interface {
	String() string // redacted, safe to log
	Check(ctx context.Context) error
}

type notReadyError struct{ err error }

func (e *notReadyError) Error() string { return e.err.Error() }
func (e *notReadyError) Unwrap() error { return e.err }

// NotReady marks err as a state that may heal by waiting. A nil err stays
// nil.
func NotReady(err error) error {
	if err == nil {
		return nil
	}
	return &notReadyError{err: err}
}

// IsNotReady reports whether err was marked with NotReady.
func IsNotReady(err error) bool {
	var n *notReadyError
	return errors.As(err, &n)
}

// Net classifies an error from dialling or talking to a server. Everything
// that can heal by waiting (refused, reset, unreachable, DNS name not there
// yet, timeouts, EOF while the server starts) is NotReady; a TLS verification
// failure or a permission error is returned as it is, because waiting will not
// change it. Unknown errors count as NotReady: a wait tool that gives up on an
// error it does not know is worse than one that reports it at the deadline.
func Net(err error) error {
	if err == nil {
		return nil
	}
	if tlsconfig.IsVerificationError(err) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return err
	}
	return NotReady(err)
}

// Params is what a checker's constructor gets besides the scheme.
type Params struct {
	// URL is the target with ${VAR} expanded and the #options removed.
	URL *url.URL
	// Display is the redacted URL, safe to log.
	Display string
	// Password comes from #password-file or --password-file when the URL
	// has none; "" otherwise. It is registered as a secret.
	Password string
	// TLS holds the --ca-file … flags; a checker that speaks TLS builds its
	// config with TLS.Config(ctx) when Load is set.
	TLS tlsconfig.Options
	// Kubeconfig and KubeContext select a kubeconfig for k8s:// targets;
	// empty means in-cluster, then $KUBECONFIG, then ~/.kube/config.
	Kubeconfig, KubeContext string
	// Load is false when only validating: the constructor must then check
	// the URL without reading files or touching the network.
	Load bool
}

// Factory builds a Checker for one target.
type Factory func(ctx context.Context, p Params) (Checker, error)

// Scrubbed returns err's message with secrets and URL credentials removed,
// for a driver's parse error that may quote the URL it was given.
func Scrubbed(err error) string { return redact.Scrub(err.Error()) }

// TLSHint is the advice given with a certificate verification failure when
// the TLS settings come from initbox's own flags.
const TLSHint = "trust the server's CA with --ca-file, or fix the name with --server-name"

// Transport classifies an error from an HTTP client's Do: the *url.Error
// wrapper is dropped (the caller names the target, and the URL may carry a
// query secret); a certificate verification failure is permanent, with
// hint; anything else goes through Net.
func Transport(err error, hint string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if tlsconfig.IsVerificationError(err) {
		return fmt.Errorf("%w; not retried: %s", err, hint)
	}
	return Net(err)
}
