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

	"github.com/initbox/initbox/internal/exitcode"
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
		return "", err
	}
	defer body.Close()
	h := sha256.New()
	tee := io.TeeReader(netReader{body}, h)
	if format == Zip {
		// zip needs random access: spool it into the target (the only place
		// known to be writable; a fixed hidden name, so a killed run's copy
		// is overwritten), verify, then read it.
		tmp, err := os.Create(filepath.Join(c.Target, "..initbox-seed-download.zip"))
		if err != nil {
			return "", err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, tee); err != nil {
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
	raw := newReadAhead(tee)
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

// transportError marks an error of the download, not of the archive: the
// download is started again.
type transportError struct{ error }

func (e transportError) Unwrap() error { return e.error }

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
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url.String(), nil)
	if err != nil {
		return nil, retry.Permanent(err)
	}
	resp, err := client.Do(req)
	if err != nil {
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
