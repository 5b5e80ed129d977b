// Package seed fills a volume before the application starts: a directory
// tree (data baked into an image), an archive (tar, tar.gz, tar.zst, zip;
// from a file, http(s):// or an object store) or a git commit, published
// all or nothing, once. A marker in the published version records the
// source and its digest, so a re-run with the same source does nothing; a
// volume left half-seeded by a killed run has no published marker and is
// redone. Sources that need a client library (seed/git, seed/s3) register
// with seed/source.
//
//	err := seed.Run(ctx, seed.Config{Src: "/seed-data", Target: "/data", IfEmpty: true})
package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/initbox/initbox/internal/atomicfile"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/progress"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/internal/watch"
	"github.com/initbox/initbox/seed/source"
)

// Defaults.
const (
	// What a pod's volume survives unless told otherwise.
	DefaultMaxBytes   = 4 << 30
	DefaultMaxEntries = 200_000
	markerName        = "..initbox-seed.json"
)

// Config is one seed.
type Config struct {
	// Src is a directory, an archive file, an http(s):// URL, or what a
	// registered source claims (git+https://…, s3://…); Target the
	// directory to fill (often a volume's mount point).
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
	// TLS applies to https:// archives and to every source's connections.
	TLS tlsconfig.Options
	// Sources hold each registered source's own options by name ("git":
	// *git.Options); a source not listed runs with its defaults.
	Sources map[string]source.Options
	// Timeout bounds the whole seed; Interval and MaxInterval shape the
	// backoff between attempts of a download.
	Timeout, Interval, MaxInterval time.Duration
	// ProgressEvery is how often progress is logged (0: every 5 s).
	ProgressEvery time.Duration
	// Watch, if set, publishes each new commit of a git source after the
	// first seed, asking at its Refresh (--watch: git-sync's continuous
	// mode).
	Watch *watch.Options
}

// marker is what a seeded version records about its source.
type marker struct {
	Source   string    `json:"source"`
	Kind     string    `json:"kind"`   // dir, archive, or the source's name (git)
	Digest   string    `json:"digest"` // what a re-run compares: the archive's sha256, the commit, the tree's digest
	Ref      string    `json:"ref,omitempty"`
	Files    int64     `json:"entries"`
	Bytes    int64     `json:"bytes"`
	SeededAt time.Time `json:"seeded_at"`
}

// origin is where a Config's Src points: a registered source's Tree or
// Archive, an https:// archive, or a local path (a directory or an
// archive file, told apart when Run looks at it).
type origin struct {
	src     source.Source // nil for a local path
	kind    string        // the marker's kind: a provider's name, "archive" or "path"
	display string        // for logs and the marker, redacted
}

// origin resolves Src without touching anything.
func (c Config) origin() (origin, error) {
	p, claimed := source.Find(c.Src)
	for _, other := range source.Providers() {
		if claimed && other.Name == p.Name {
			continue
		}
		if opts := c.Sources[other.Name]; opts != nil && len(opts.Set()) > 0 {
			return origin{}, fmt.Errorf("%s: for %s sources only; %s is not one", strings.Join(opts.Set(), ", "), other.Name, c.displaySrc())
		}
	}
	switch {
	case claimed:
		opts := c.Sources[p.Name]
		if opts == nil {
			opts = p.Options()
		}
		s, err := opts.New(c.Src, source.Env{TLS: c.TLS})
		if err != nil {
			return origin{}, err
		}
		kind := p.Name
		if _, ok := s.(source.Archive); ok {
			kind = "archive"
		}
		return origin{src: s, kind: kind, display: s.String()}, nil
	case strings.HasPrefix(c.Src, "https://"), strings.HasPrefix(c.Src, "http://"):
		a, err := newHTTPArchive(c.Src, c.TLS)
		if err != nil {
			return origin{}, err
		}
		return origin{src: a, kind: "archive", display: a.String()}, nil
	}
	if scheme, _, ok := strings.Cut(c.Src, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, "/.") {
		// A URL no source of this build claims (git+https:// in a build
		// without git): say so, instead of looking for a file of that name.
		name, _, _ := strings.Cut(scheme, "+")
		reads := "directories, archive files and http(s):// URLs"
		if n := source.Names(); n != "" {
			reads = "directories, archive files, http(s):// URLs and " + n
		}
		return origin{}, fmt.Errorf("source %s: %s sources are not in this build; it reads %s", c.displaySrc(), name, reads)
	}
	return origin{kind: "path", display: c.Src}, nil
}

func (c Config) displaySrc() string {
	if strings.Contains(c.Src, "://") || strings.Contains(c.Src, "@") {
		return redact.URLString(c.Src)
	}
	return c.Src
}

// Validate checks the configuration without touching anything.
func (c Config) Validate() error {
	switch {
	case c.Src == "":
		return errors.New("no source: give a directory, an archive file, an https:// URL or a source this build reads (" + source.Names() + ")")
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
	o, err := c.origin()
	if err != nil {
		return err
	}
	_, tree := o.src.(source.Tree)
	if tree && (c.SHA256 != "" || c.Format != "") {
		return fmt.Errorf("--sha256 and --format are for archives, not %s sources", o.kind)
	}
	if c.Watch != nil {
		if err := c.unwatchable(o, tree); err != nil {
			return err
		}
		if err := c.Watch.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// unwatchable says why this seed cannot be watched, or nil.
func (c Config) unwatchable(o origin, tree bool) error {
	switch {
	case !tree:
		return fmt.Errorf("--watch follows a source that moves (a git branch); %s is not one: seed it once, or fetch objects with fetch --watch", o.display)
	case c.IfEmpty || c.Force:
		return errors.New("--watch publishes each new commit; --if-empty and --force are for a one-time seed")
	}
	return nil
}

// OnceOnly, for a step of a watched plan (run --watch), says why this seed
// runs once rather than watching (a source that does not move, a one-time
// seed), or "" when it can watch or its options are wrong anyway (Validate
// says how).
func (c Config) OnceOnly() string {
	o, err := c.origin()
	if err != nil {
		return ""
	}
	_, tree := o.src.(source.Tree)
	if err := c.unwatchable(o, tree); err != nil {
		return err.Error()
	}
	return ""
}

// Run seeds. With Watch, the first pass is that seed; then the source is
// asked at every Refresh what it holds (git: where the ref points) and a
// new commit is published, the old tree kept while a fetch fails.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return exitcode.Usage(err)
	}
	if c.Watch == nil {
		_, _, err := c.once(ctx, true)
		return err
	}
	o := *c.Watch
	o.Command = "seed"
	return watch.Run(ctx, o, func(ctx context.Context, first bool) (watch.Report, error) {
		changed, digest, err := c.once(ctx, first)
		if changed && !first {
			slog.InfoContext(ctx, "republished", "target", c.Target, "digest", digest)
			return watch.Report{Changed: []string{digest}}, err
		}
		return watch.Report{}, err
	})
}

// once seeds once and reports whether the target changed, and the
// source's digest (git: the commit).
func (c Config) once(ctx context.Context, first bool) (bool, string, error) {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	if c.Timeout > 0 { // each pass of a watch too
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	o, _ := c.origin()                 // Validate checked it
	redact.Public(o.display, c.Target) // shown text, never c.Src: it may hold a token
	owner := c.owner(ctx)
	if c.IfEmpty {
		if empty, err := isEmpty(c.Target); err != nil {
			return false, "", err
		} else if !empty {
			slog.InfoContext(ctx, "target is not empty: --if-empty leaves it as it is", "target", c.Target)
			return false, "", nil
		}
	}
	prev := readMarker(c.Target)
	compare := !c.Force && prev != nil && prev.Source == o.display
	policy := retry.Policy{Name: o.display, Interval: c.Interval, MaxInterval: c.MaxInterval, Report: func(a retry.Attempt) {
		slog.InfoContext(ctx, "retrying", "what", o.display, "attempt", a.N, "elapsed", a.Elapsed.Round(time.Millisecond), "error", a.Err)
	}}
	job, err := c.prepare(ctx, &o, compare, policy)
	if err != nil {
		return false, "", err
	}
	if compare && job.digest != "" && prev.Digest == job.digest {
		lvl := slog.LevelInfo
		if !first {
			lvl = slog.LevelDebug
		}
		slog.Log(ctx, lvl, "already seeded from this source: nothing to do (--force seeds again)", "target", c.Target, "source", o.display,
			"digest", job.digest, "seeded_at", prev.SeededAt)
		return false, job.digest, nil
	}
	slog.InfoContext(ctx, "seeding", "source", o.display, "target", c.Target)
	meter := &progress.Meter{What: "entries"}
	stop := meter.Start(ctx, c.ProgressEvery)
	defer stop()
	var w *writer
	var changed bool
	err = retry.Do(ctx, policy, func(ctx context.Context) error {
		var err error
		changed, err = publish.Dir(ctx, c.Target, publish.Options{Mode: 0o644, Owner: owner}, func(s *publish.Stage) error {
			meter.Done.Store(0)
			meter.Bytes.Store(0)
			w = &writer{cfg: c, stage: s, links: map[string]bool{}, meter: meter}
			return c.fillStage(ctx, o, job, w, s)
		})
		// Only the source's own troubles are worth another try: a target
		// that cannot be written (permission denied, no space) is not.
		if err != nil && !isTransport(err) && ctx.Err() == nil {
			return retry.Permanent(exitcode.WithCode(exitcode.Failure, err))
		}
		return err
	})
	if err != nil {
		return false, "", err
	}
	slog.InfoContext(ctx, "seeded", "target", c.Target, "entries", w.entries, "bytes", w.bytes, "digest", job.digest, "changed", changed,
		"elapsed", time.Since(start).Round(time.Millisecond))
	return changed, job.digest, nil
}

// owner is --chown for everything written, when initbox runs as root.
func (c Config) owner(ctx context.Context) *atomicfile.Owner {
	if c.Chown == "" {
		return nil
	}
	if os.Geteuid() != 0 {
		slog.WarnContext(ctx, "not root: --chown is not applied; files belong to the user initbox runs as", "uid", os.Geteuid(), "chown", c.Chown)
		return nil
	}
	owner, _ := atomicfile.ParseOwner(c.Chown) // Validate checked it
	return owner
}

// job is what is known of the content before it is staged.
type job struct {
	isDir  bool   // a local directory
	format string // an archive's
	digest string // known up front: a tree's or a local archive's (when it can decide something), a pin, a commit
	ref    string // a Tree's resolved ref, for the marker
}

// prepare looks at the source: a local path's kind, the digest when it can
// decide something (a pin to check, a marker to compare with), a Tree's
// resolved commit, an archive's format.
func (c Config) prepare(ctx context.Context, o *origin, compare bool, policy retry.Policy) (job, error) {
	var j job
	switch src := o.src.(type) {
	case nil: // a local path
		fi, err := os.Stat(c.Src)
		if err != nil {
			return j, exitcode.Usage(fmt.Errorf("source %s: %w", c.Src, unwrap(err)))
		}
		j.isDir = fi.IsDir()
		// Otherwise the copy digests the tree on its own walk, and the
		// extraction hashes an archive on the way.
		if j.isDir {
			o.kind = "dir"
			if compare {
				j.digest, err = treeDigest(c.Src)
			}
		} else {
			o.kind = "archive"
			if c.SHA256 != "" || compare {
				j.digest, err = fileDigest(c.Src)
				if err == nil && c.SHA256 != "" && j.digest != c.SHA256 {
					err = exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: sha256 %s, want %s (--sha256); nothing is written", c.Src, j.digest, c.SHA256))
				}
			}
		}
		if err != nil {
			return j, err
		}
	case source.Tree:
		err := retry.Do(ctx, policy, func(ctx context.Context) error {
			var err error
			j.digest, j.ref, err = src.Resolve(ctx)
			return err
		})
		if err != nil {
			return j, exitcode.WithCode(exitcode.Failure, err)
		}
		return j, nil
	default:
		j.digest = c.SHA256 // a pinned download is known before it is made
	}
	if j.isDir {
		return j, nil
	}
	j.format = c.Format
	if j.format == "" {
		name := c.Src
		if a, ok := o.src.(source.Archive); ok {
			name = a.Name()
		}
		var err error
		if j.format, err = formatOf(name); err != nil {
			return j, exitcode.Usage(err)
		}
	}
	return j, nil
}

// fillStage writes the source into the stage and its marker.
func (c Config) fillStage(ctx context.Context, o origin, j job, w *writer, s *publish.Stage) error {
	digest := j.digest
	switch src := o.src.(type) {
	case source.Tree:
		if err := src.Write(ctx, j.digest, j.ref, w); err != nil {
			return retriable(err)
		}
	default:
		sum, err := c.fill(ctx, o, w, j.isDir, j.format)
		if err != nil {
			return err
		}
		if !j.isDir && c.SHA256 != "" && sum != c.SHA256 {
			return retry.Permanent(exitcode.WithCode(exitcode.Failure,
				fmt.Errorf("%s: sha256 %s, want %s (--sha256); nothing is published", o.display, sum, c.SHA256)))
		}
		digest = sum
	}
	// Every link of the finished tree, resolved through the links it holds.
	if err := s.CheckLinks(); err != nil {
		return permanent(err)
	}
	b, _ := json.MarshalIndent(marker{Source: o.display, Kind: o.kind, Digest: digest, Ref: j.ref,
		Files: w.entries, Bytes: w.bytes, SeededAt: time.Now().UTC()}, "", "  ")
	return s.WriteMeta(markerName, append(b, '\n'))
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

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
