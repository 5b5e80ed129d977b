// Package seed fills a volume before the application starts: a directory
// tree (data baked into an image) or an archive (tar, tar.gz, tar.zst, zip;
// from a file, http(s):// or s3://), published all or nothing, once. A
// marker in the published version records the source and its digest, so a
// re-run with the same source does nothing; a volume left half-seeded by a
// killed run has no published marker and is redone.
package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/atomicfile"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/progress"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// Defaults.
const (
	DefaultMaxBytes   = 16 << 30
	DefaultMaxEntries = 1_000_000
	markerName        = "..initbox-seed.json"
)

// Config is one seed.
type Config struct {
	// Src is a directory, an archive file, an http(s):// URL or an s3://
	// reference; Target the directory to fill (often a volume's mount
	// point).
	Src, Target string
	// Format of an archive: tar, tar.gz, tar.zst or zip; "" = from the name.
	Format string
	// StripComponents drops leading path elements of every entry; Subdir
	// then keeps only what is below it.
	StripComponents int
	Subdir          string
	// SHA256 pins the archive: it must match before anything is published.
	SHA256 string
	// IfEmpty seeds only an empty target; Force seeds even when the marker
	// says the source is already there.
	IfEmpty, Force bool
	// Chown is "uid:gid" for everything written (as root; ignored with a
	// note otherwise); Chmod the mode of every file (0: each entry's own).
	Chown string
	Chmod fs.FileMode
	// Limits against archives that expand without end.
	MaxBytes, MaxEntries int64
	// S3 and TLS configure s3:// and https:// sources.
	S3  source.S3Options
	TLS tlsconfig.Options
	// Git: Ref is a branch, tag or commit (default: the remote's HEAD);
	// GitTokenFile holds an HTTPS token; SSHKeyFile a private key, checked
	// against KnownHosts.
	Ref, GitTokenFile, SSHKeyFile, KnownHosts string
	// Submodules checks out the commits a git tree's submodules record,
	// recursively, each at its path.
	Submodules bool
	// Timeout bounds the whole seed; Interval and MaxInterval shape the
	// backoff between attempts of a download.
	Timeout, Interval, MaxInterval time.Duration
	// ProgressEvery is how often progress is logged (0: every 5 s).
	ProgressEvery time.Duration
}

// marker is what a seeded version records about its source.
type marker struct {
	Source   string    `json:"source"`
	Kind     string    `json:"kind"`   // dir, archive, git
	Digest   string    `json:"digest"` // what a re-run compares: the archive's sha256, the commit, the tree's digest
	Ref      string    `json:"ref,omitempty"`
	Files    int64     `json:"entries"`
	Bytes    int64     `json:"bytes"`
	SeededAt time.Time `json:"seeded_at"`
}

func (c Config) kind() string {
	switch {
	case strings.HasPrefix(c.Src, "git+"), strings.HasPrefix(c.Src, "git://"), strings.HasPrefix(c.Src, "git@"),
		strings.HasSuffix(strings.TrimSuffix(c.Src, "/"), ".git"):
		return "git"
	case strings.HasPrefix(c.Src, "https://"), strings.HasPrefix(c.Src, "http://"):
		return "http"
	case strings.HasPrefix(c.Src, "s3://"):
		return "s3"
	}
	return "path"
}

// gitURL is the repository's URL without initbox's git+ prefix.
func (c Config) gitURL() string { return strings.TrimPrefix(c.Src, "git+") }

// gitSource is set by git.go (build tag !initbox_no_git).
var gitSource interface {
	resolve(ctx context.Context, c Config) (commit, ref string, err error)
	checkout(ctx context.Context, c Config, commit, ref string, w *writer) error
}

// Validate checks the configuration without touching anything.
func (c Config) Validate() error {
	switch {
	case c.Src == "":
		return errors.New("no source: give a directory, an archive file, an https:// URL or an s3:// reference")
	case c.Target == "":
		return errors.New("no target: give the directory to seed")
	case c.StripComponents < 0:
		return errors.New("--strip-components must not be negative")
	case c.SHA256 != "" && (len(c.SHA256) != 64 || strings.Trim(strings.ToLower(c.SHA256), "0123456789abcdef") != ""):
		return fmt.Errorf("--sha256 %q: want 64 hex digits", c.SHA256)
	case c.IfEmpty && c.Force:
		return errors.New("--if-empty and --force contradict each other")
	case c.MaxBytes < 0 || c.MaxEntries < 0:
		return errors.New("--max-bytes and --max-entries must not be negative")
	}
	if c.Format != "" && c.Format != Tar && c.Format != TarGz && c.Format != TarZst && c.Format != Zip {
		return fmt.Errorf("--format %q: use tar, tar.gz, tar.zst or zip", c.Format)
	}
	if c.Chown != "" {
		if _, err := atomicfile.ParseOwner(c.Chown); err != nil {
			return fmt.Errorf("--chown: %w", err)
		}
	}
	if c.kind() != "git" && (c.Ref != "" || c.GitTokenFile != "" || c.SSHKeyFile != "" || c.Submodules) {
		return errors.New("--ref, --git-token-file, --ssh-key-file and --submodules are for git sources (git+https://…, …/repo.git)")
	}
	if c.kind() == "git" && (c.SHA256 != "" || c.Format != "") {
		return errors.New("--sha256 and --format are for archives; pin a git source with --ref COMMIT")
	}
	if c.kind() == "http" {
		if u, err := url.Parse(c.Src); err != nil || u.Host == "" {
			return fmt.Errorf("source %s: not a URL", redact.URLString(c.Src))
		}
	}
	return nil
}

// Run seeds.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return exitcode.Usage(err)
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	display := c.Src
	if c.kind() != "path" {
		display = redact.URLString(c.Src)
	}
	var owner *atomicfile.Owner
	if c.Chown != "" {
		if os.Geteuid() == 0 {
			owner, _ = atomicfile.ParseOwner(c.Chown)
		} else {
			slog.WarnContext(ctx, "not root: --chown is not applied; files belong to the user initbox runs as", "uid", os.Geteuid(), "chown", c.Chown)
		}
	}
	if c.IfEmpty {
		if empty, err := isEmpty(c.Target); err != nil {
			return err
		} else if !empty {
			slog.InfoContext(ctx, "target is not empty: --if-empty leaves it as it is", "target", c.Target)
			return nil
		}
	}
	prev := readMarker(c.Target)
	var digest string // known before staging: a tree's or a local archive's
	isDir := false
	if c.kind() == "path" {
		fi, err := os.Stat(c.Src)
		if err != nil {
			return exitcode.Usage(fmt.Errorf("source %s: %w", c.Src, unwrap(err)))
		}
		isDir = fi.IsDir()
		// Digested first only where it can decide something: a pin to check,
		// or a marker to compare with. Otherwise the copy digests the tree on
		// its own walk, and the extraction hashes an archive on the way (on
		// the goroutine that reads it).
		compare := !c.Force && prev != nil && prev.Source == display
		if isDir && compare {
			digest, err = treeDigest(c.Src)
		} else if !isDir && (c.SHA256 != "" || compare) {
			digest, err = fileDigest(c.Src)
			if err == nil && c.SHA256 != "" && digest != c.SHA256 {
				err = exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: sha256 %s, want %s (--sha256); nothing is written", c.Src, digest, c.SHA256))
			}
		}
		if err != nil {
			return err
		}
	} else if c.SHA256 != "" {
		digest = c.SHA256 // a pinned download is known before it is made
	}
	policy := retry.Policy{Name: display, Interval: c.Interval, MaxInterval: c.MaxInterval, Report: func(a retry.Attempt) {
		slog.InfoContext(ctx, "retrying", "what", display, "attempt", a.N, "elapsed", a.Elapsed.Round(time.Millisecond), "error", a.Err)
	}}
	markerKind := "archive"
	switch {
	case isDir:
		markerKind = "dir"
	case c.kind() == "git":
		markerKind = "git"
	}
	var commit, ref string
	if c.kind() == "git" {
		if gitSource == nil {
			return exitcode.Usage(errors.New("git sources are not in this build (initbox_no_git)"))
		}
		err := retry.Do(ctx, policy, func(ctx context.Context) error {
			var err error
			commit, ref, err = gitSource.resolve(ctx, c)
			return err
		})
		if err != nil {
			return exitcode.WithCode(exitcode.Failure, err)
		}
		digest = "git:" + commit
		if c.Submodules {
			digest += "+submodules" // the same commit with its submodules is other content
		}
	}
	if !c.Force && prev != nil && prev.Source == display && digest != "" && prev.Digest == digest {
		slog.InfoContext(ctx, "already seeded from this source: nothing to do (--force seeds again)", "target", c.Target, "source", display,
			"digest", digest, "seeded_at", prev.SeededAt)
		return nil
	}
	format := c.Format
	if !isDir && format == "" && c.kind() != "git" {
		name := c.Src
		if u, err := url.Parse(c.Src); err == nil && c.kind() != "path" {
			name = u.Path
		}
		var err error
		if format, err = formatOf(name); err != nil {
			return exitcode.Usage(err)
		}
	}
	slog.InfoContext(ctx, "seeding", "source", display, "target", c.Target)
	meter := &progress.Meter{What: "entries"}
	stop := meter.Start(ctx, c.ProgressEvery)
	defer stop()
	var w *writer
	var changed bool
	err := retry.Do(ctx, policy, func(ctx context.Context) error {
		var err error
		changed, err = publish.Dir(ctx, c.Target, publish.Options{Mode: 0o644, Owner: owner}, func(s *publish.Stage) error {
			meter.Done.Store(0)
			meter.Bytes.Store(0)
			w = &writer{cfg: c, stage: s, links: map[string]bool{}, meter: meter}
			if c.kind() == "git" {
				if err := gitSource.checkout(ctx, c, commit, ref, w); err != nil {
					return err
				}
			} else if sum, err := c.fill(ctx, w, isDir, format); err != nil {
				return err
			} else if isDir {
				digest = sum
			} else {
				if c.SHA256 != "" && sum != c.SHA256 {
					return retry.Permanent(exitcode.WithCode(exitcode.Failure,
						fmt.Errorf("%s: sha256 %s, want %s (--sha256); nothing is published", display, sum, c.SHA256)))
				}
				digest = sum
			}
			b, _ := json.MarshalIndent(marker{Source: display, Kind: markerKind, Digest: digest, Ref: ref,
				Files: w.entries, Bytes: w.bytes, SeededAt: time.Now().UTC()}, "", "  ")
			return s.WriteMeta(markerName, append(b, '\n'))
		})
		return err
	})
	if err != nil {
		return err
	}
	slog.InfoContext(ctx, "seeded", "target", c.Target, "entries", w.entries, "bytes", w.bytes, "digest", digest, "changed", changed,
		"elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// fill writes the source into the stage and returns the archive's sha256,
// or a directory's tree digest.
func (c Config) fill(ctx context.Context, w *writer, isDir bool, format string) (string, error) {
	if isDir {
		digest, err := copyTree(c.Src, w)
		return digest, permanent(err)
	}
	r, closeFn, err := c.open(ctx)
	if err != nil {
		return "", err
	}
	defer closeFn()
	h := sha256.New()
	tee := io.TeeReader(r, h)
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
			return "", fmt.Errorf("downloading %s: %w", redact.URLString(c.Src), err)
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

// transportError marks an error of the download, not of the archive.
type transportError struct{ error }

func (e transportError) Unwrap() error { return e.error }

func isTransport(err error) bool {
	var te transportError
	return errors.As(err, &te)
}

// netReader marks read errors as the download's.
type netReader struct{ r io.Reader }

func (n netReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF {
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

// open returns the archive's bytes.
func (c Config) open(ctx context.Context) (io.Reader, func(), error) {
	switch c.kind() {
	case "path":
		f, err := os.Open(c.Src)
		if err != nil {
			return nil, nil, retry.Permanent(err)
		}
		return f, func() { f.Close() }, nil
	case "http":
		return c.openHTTP(ctx)
	}
	if openS3 == nil {
		return nil, nil, retry.Permanent(exitcode.Usage(errors.New("s3:// sources are not in this build (initbox_no_s3)")))
	}
	return openS3(ctx, c)
}

// openS3 is set by source_s3.go (build tag !initbox_no_s3).
var openS3 func(ctx context.Context, c Config) (io.Reader, func(), error)

func (c Config) openHTTP(ctx context.Context) (io.Reader, func(), error) {
	tc, err := c.TLS.Config(ctx)
	if err != nil {
		return nil, nil, retry.Permanent(exitcode.Usage(err))
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Src, nil)
	if err != nil {
		return nil, nil, retry.Permanent(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if tlsconfig.IsVerificationError(err) {
			return nil, nil, retry.Permanent(fmt.Errorf("%s: %v; trust its CA with --ca-file", redact.URLString(c.Src), redact.Scrub(err.Error())))
		}
		return nil, nil, fmt.Errorf("%s: %v", redact.URLString(c.Src), redact.Scrub(err.Error()))
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		err := fmt.Errorf("%s: HTTP %d", redact.URLString(c.Src), resp.StatusCode)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
			return nil, nil, err
		}
		return nil, nil, retry.Permanent(exitcode.WithCode(exitcode.Failure, err))
	}
	return netReader{resp.Body}, func() { resp.Body.Close() }, nil
}

// isEmpty reports whether dir is missing or holds nothing but lost+found.
func isEmpty(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Name() != "lost+found" {
			return false, nil
		}
	}
	return true, nil
}

func readMarker(target string) *marker {
	b, err := os.ReadFile(filepath.Join(target, "..data", markerName))
	if err != nil {
		return nil
	}
	var m marker
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return &m
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

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var errOneObject = errors.New("an s3:// source names one archive object, not a prefix")
