package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/limit"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/seed/source"
)

// fill writes a directory or an archive into the stage and returns the
// archive's sha256, or a directory's tree digest.
func (c Config) fill(ctx context.Context, o origin, w *writer, isDir bool, format string) (string, error) {
	if isDir {
		digest, err := copyTree(c.Src, w)
		return digest, permanent(err)
	}
	a, ok := o.src.(source.Archive)
	if !ok {
		a = fileArchive(c.Src)
	}
	body, err := a.Open(ctx)
	if err != nil {
		return "", retriable(err)
	}
	defer body.Close()
	h := sha256.New()
	// The archive's own bytes are capped too: nothing from the source is
	// read past --max-bytes (a stream that never ends, a zip to spool).
	tee := io.TeeReader(limit.Reader(netReader{body}, c.MaxBytes, func() error {
		return fmt.Errorf("%s: the archive is %w; raise it if the source is trusted", o.display, errTooLarge)
	}), h)
	if format == Zip {
		// zip needs random access: spool it into a scratch directory of the
		// stage (unpredictable, private, gone before the publish), within
		// --max-bytes, verify, then read it.
		scratch, err := w.stage.Scratch()
		if err != nil {
			return "", err
		}
		tmp, err := os.OpenFile(filepath.Join(scratch, "download.zip"), os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return "", err
		}
		defer tmp.Close()
		if _, err := io.Copy(tmp, tee); err != nil {
			if errors.Is(err, errTooLarge) {
				return "", permanent(err)
			}
			return "", fmt.Errorf("downloading %s: %w", o.display, err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if c.SHA256 != "" && sum != c.SHA256 {
			return sum, nil // the caller reports the mismatch; nothing was extracted
		}
		return sum, permanent(extractZip(tmp, w))
	}
	// The archive is read and hashed on a goroutine of its own, a few chunks
	// ahead: hashing is then off the decompressing core (the one that bounds
	// an extraction), and a download overlaps the writes.
	raw := newReadAhead(tee, nil)
	defer raw.Close()
	if err := extractTar(raw, format, w); err != nil {
		if ctx.Err() == nil && isTransport(err) {
			return "", err // the download broke: retried
		}
		return "", permanent(err)
	}
	// Drain what the tar reader did not need (padding), so the digest is
	// the whole archive's (the read-ahead has ended when this returns).
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var errTooLarge = errors.New("larger than --max-bytes")

// transportError marks an error of the download, not of the archive: the
// download is started again.
type transportError struct{ error }

func (e transportError) Unwrap() error { return e.error }

// retriable marks a source's error that may heal (not retry.Permanent) as
// the download's: Run retries those, and nothing else.
func retriable(err error) error {
	if err == nil || retry.IsPermanent(err) {
		return err
	}
	return transportError{err}
}

func isTransport(err error) bool {
	var te transportError
	return errors.As(err, &te)
}

// netReader marks an Archive's read errors as the download's, unless the
// source marked one permanent (a checksum that does not match).
type netReader struct{ r io.Reader }

func (n netReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF && !retry.IsPermanent(err) {
		err = transportError{err}
	}
	return k, err
}

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return retry.Permanent(exitcode.WithCode(exitcode.Failure, fmt.Errorf("%w; nothing is published", err)))
}

// fileArchive is an archive file on this machine.
type fileArchive string

func (f fileArchive) String() string { return string(f) }
func (f fileArchive) Name() string   { return string(f) }

func (f fileArchive) Open(context.Context) (io.ReadCloser, error) {
	r, err := os.Open(string(f))
	if err != nil {
		return nil, retry.Permanent(err)
	}
	return r, nil
}

// httpArchive is an archive downloaded over http(s).
type httpArchive struct {
	url *url.URL
	tls tlsconfig.Options
}

var _ source.Archive = (*httpArchive)(nil)

func newHTTPArchive(raw string, tls tlsconfig.Options) (*httpArchive, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("source %s: not a URL", redact.URLString(raw))
	}
	if err := tls.Validate(); err != nil {
		return nil, err
	}
	return &httpArchive{url: u, tls: tls}, nil
}

func (a *httpArchive) String() string { return redact.URL(a.url) }
func (a *httpArchive) Name() string   { return a.url.Path }

// Open starts the download: 5xx, 429 and 408 are retried, other statuses
// and a TLS verification failure are not.
func (a *httpArchive) Open(ctx context.Context) (io.ReadCloser, error) {
	tc, err := a.tls.Config(ctx)
	if err != nil {
		return nil, retry.Permanent(exitcode.Usage(err))
	}
	// The archive's own bytes, as the server has them: Go's client would
	// otherwise ask for gzip and decode it silently, so that a few hundred
	// KiB on the wire became gigabytes before any cap saw them.
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, DisableCompression: true},
		CheckRedirect: checkRedirect,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url.String(), nil)
	if err != nil {
		return nil, retry.Permanent(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if retry.IsPermanent(err) && errors.As(err, &ue) {
			return nil, exitcode.WithCode(exitcode.Failure, ue.Err) // ue's text holds the URL unredacted
		}
		if tlsconfig.IsVerificationError(err) {
			return nil, retry.Permanent(fmt.Errorf("%s: %v; trust its CA with --ca-file", a, redact.Scrub(err.Error())))
		}
		return nil, fmt.Errorf("%s: %v", a, redact.Scrub(err.Error()))
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		err := fmt.Errorf("%s: HTTP %d", a, resp.StatusCode)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
			return nil, err
		}
		return nil, retry.Permanent(exitcode.WithCode(exitcode.Failure, err))
	}
	return resp.Body, nil
}

// checkRedirect follows up to 10 redirects, to http(s) only and never from
// https to http; a refused one fails at once (waiting cannot fix it).
func checkRedirect(req *http.Request, via []*http.Request) error {
	switch prev := via[len(via)-1].URL; {
	case len(via) >= 10:
		return retry.Permanent(fmt.Errorf("%s: more than 10 redirects", redact.URL(via[0].URL)))
	case req.URL.Scheme != "https" && req.URL.Scheme != "http":
		return retry.Permanent(fmt.Errorf("%s: redirected to %s; only http(s) is followed", redact.URL(via[0].URL), redact.URL(req.URL)))
	case prev.Scheme == "https" && req.URL.Scheme == "http":
		return retry.Permanent(fmt.Errorf("%s: redirected from https to plain http (%s); refused", redact.URL(via[0].URL), redact.URL(req.URL)))
	}
	return nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
