package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/atomicfile"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/glob"
	"github.com/initbox/initbox/internal/progress"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/internal/retry"
)

// Defaults for object downloads.
const (
	DefaultConcurrency = 16
	DefaultPartSize    = 16 << 20
	// What a pod's volume survives unless told otherwise: larger trees of
	// objects (models) raise --max-bytes.
	DefaultMaxBytes   = 10 << 30
	DefaultMaxObjects = 100_000
	manifestName      = "..initbox-manifest.json"
)

// manifest records what a directory (or a file's sidecar) holds, so that a
// re-run downloads only what changed. It holds no secrets.
type manifest struct {
	Objects []manifestEntry `json:"objects"`
}

type manifestEntry struct {
	Name      string `json:"name"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	ETag      string `json:"etag"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

func (e manifestEntry) same(o source.Object) bool {
	return e.Bucket == o.Bucket && e.Key == o.Key && e.ETag == o.ETag && e.Size == o.Size && (o.VersionID == "" || e.VersionID == o.VersionID)
}

// runObjects lists every object reference, then downloads and publishes
// what changed; it reports whether the output changed. After the first
// pass (--watch) what stays the same is logged at debug level only.
func (c Config) runObjects(ctx context.Context, p *plan, first bool) (bool, error) {
	lvl := slog.LevelInfo
	if !first {
		lvl = slog.LevelDebug
	}
	sources := p.sources
	maxBytes, maxObjects := c.MaxBytes, c.MaxObjects
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxObjects == 0 {
		maxObjects = DefaultMaxObjects
	}
	policy := func(name string) retry.Policy { return c.policy(ctx, name) }
	var objs []source.Object
	for _, r := range p.refs {
		src := sources[r.URL.Scheme].(source.ObjectSource)
		var listed []source.Object
		err := retry.Do(ctx, policy(r.Display), func(ctx context.Context) error {
			var err error
			listed, err = src.List(ctx, r, maxObjects)
			return err
		})
		if errors.Is(err, source.ErrNotFound) && r.Optional {
			slog.WarnContext(ctx, "optional reference names nothing", "ref", r.Display)
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", r.Display, err)
		}
		for _, o := range listed {
			if keep, err := glob.Keep(c.Include, c.Exclude, o.Name); err != nil {
				return false, exitcode.Usage(err)
			} else if keep {
				objs = append(objs, o)
			}
		}
	}
	if err := checkLayout(objs); err != nil {
		return false, exitcode.WithCode(exitcode.Failure, err)
	}
	var total int64
	for _, o := range objs {
		total += o.Size
	}
	switch {
	case len(objs) > maxObjects:
		return false, exitcode.WithCode(exitcode.Failure, fmt.Errorf("%d objects, more than %d (--max-objects); raise it if the store is trusted; nothing is downloaded", len(objs), maxObjects))
	case total > maxBytes:
		return false, exitcode.WithCode(exitcode.Failure, fmt.Errorf("the objects hold %s, more than %s (--max-bytes); raise it if the store is trusted; nothing is downloaded",
			progress.Human(total), progress.Human(maxBytes)))
	}
	slog.Log(ctx, lvl, "listed", "objects", len(objs), "bytes", total)
	dl := &downloader{cfg: c, sources: sources, policy: policy}
	dl.meter = progress.Meter{What: "objects", Total: int64(len(objs)), TotalBytes: total}
	stop := dl.meter.Start(ctx, c.ProgressEvery)
	defer stop()

	mode := c.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	if p.format == Raw {
		if len(objs) == 0 {
			slog.WarnContext(ctx, "nothing to write: the optional object is missing", "out", c.Out)
			return false, nil
		}
		if len(objs) != 1 {
			return false, exitcode.WithCode(exitcode.Failure, fmt.Errorf("%d objects for one file: give --out a directory (ending in /)", len(objs)))
		}
		return dl.toFile(ctx, objs[0], atomicfile.Options{Mode: mode, Owner: p.owner}, lvl)
	}
	changed, err := publish.Dir(ctx, c.Out, publish.Options{Mode: mode, Owner: p.owner}, func(s *publish.Stage) error {
		return dl.toStage(ctx, s, objs)
	})
	if err == nil {
		slog.Log(ctx, lvl, "published", "dir", c.Out, "changed", changed, "downloaded", dl.downloaded.Load(), "reused", dl.reused.Load())
	}
	return changed, err
}

// checkLayout refuses names from remote keys that are unsafe, given twice,
// or both a file and a directory ("a" and "a/b").
func checkLayout(objs []source.Object) error {
	names := map[string]string{}
	for _, o := range objs {
		if strings.HasSuffix(o.Key, "/") {
			return fmt.Errorf("%s: key %q ends in / but holds %d bytes (a directory marker with content): it cannot be a file; nothing is published", o.Ref, o.Key, o.Size)
		}
		if err := publish.CheckName(o.Name, true); err != nil {
			return fmt.Errorf("%s: key %q: %w; nothing is published", o.Ref, o.Key, err)
		}
		if prev, dup := names[o.Name]; dup {
			return fmt.Errorf("keys %q and %q both write %s", prev, o.Key, o.Name)
		}
		names[o.Name] = o.Key
	}
	for name, key := range names {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if other, ok := names[d]; ok {
				return fmt.Errorf("key %q would be a file where key %q needs a directory (%s); nothing is published", other, key, d)
			}
		}
	}
	return nil
}

// downloader runs the downloads with bounded parallelism and reports
// progress.
type downloader struct {
	cfg        Config
	sources    map[string]source.Source
	policy     func(string) retry.Policy
	sem        chan struct{}
	once       sync.Once
	meter      progress.Meter
	downloaded atomic.Int64
	reused     atomic.Int64
}

func (d *downloader) concurrency() int {
	if d.cfg.Concurrency > 0 {
		return d.cfg.Concurrency
	}
	return DefaultConcurrency
}

func (d *downloader) slots() chan struct{} {
	d.once.Do(func() { d.sem = make(chan struct{}, d.concurrency()) })
	return d.sem
}

// toStage puts every object into the staged version: unchanged ones (same
// key, version, ETag, size as the manifest says) are hard-linked from the
// published version, the rest downloaded in parallel.
func (d *downloader) toStage(ctx context.Context, s *publish.Stage, objs []source.Object) error {
	prev := map[string]manifestEntry{}
	if b, err := s.Previous(manifestName); err == nil {
		var m manifest
		if json.Unmarshal(b, &m) == nil {
			for _, e := range m.Objects {
				prev[e.Name] = e
			}
		}
	}
	entries := make([]manifestEntry, len(objs))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	fail := func(err error) {
		if firstErr.CompareAndSwap(nil, err) {
			cancel(err)
		}
	}
	var todo []int
	for i, o := range objs {
		if e, ok := prev[o.Name]; ok && e.same(o) {
			if reused, err := s.Reuse(o.Name); err != nil {
				return err
			} else if reused {
				entries[i] = e
				d.reused.Add(1)
				d.meter.Done.Add(1)
				continue
			}
		}
		todo = append(todo, i)
	}
	// A fixed set of workers, not a goroutine per object: their stacks grow
	// once (the SDK's middleware chain is deep), and at most that many
	// files are created or fsynced at once.
	jobs := make(chan int)
	for range min(d.concurrency(), len(todo)) {
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil {
					continue
				}
				o := objs[i]
				sha, err := d.toStaged(ctx, s, o)
				if err != nil {
					fail(err)
					continue
				}
				entries[i] = manifestEntry{Name: o.Name, Bucket: o.Bucket, Key: o.Key, VersionID: o.VersionID, ETag: o.ETag, Size: o.Size, SHA256: sha}
				d.downloaded.Add(1)
				d.meter.Done.Add(1)
			}
		})
	}
	for _, i := range todo {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	slices.SortFunc(entries, func(a, b manifestEntry) int { return strings.Compare(a.Name, b.Name) })
	b, _ := json.MarshalIndent(manifest{Objects: entries}, "", "  ")
	return s.WriteMeta(manifestName, append(b, '\n'))
}

// toStaged downloads one object into a new file of the staged version.
func (d *downloader) toStaged(ctx context.Context, s *publish.Stage, o source.Object) (string, error) {
	f, err := s.Create(o.Name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return d.download(ctx, o, f) // publish.Dir makes the version durable
}

// sidecar is where a single downloaded file's manifest lives.
func sidecar(out string) string {
	return filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".initbox-manifest.json")
}

// toFile downloads one object into a file, atomically, unless the sidecar
// manifest says the file already holds it.
func (d *downloader) toFile(ctx context.Context, o source.Object, opts atomicfile.Options, lvl slog.Level) (bool, error) {
	if d.cfg.Out == "-" {
		return true, d.toStdout(ctx, o)
	}
	var m manifest
	if b, err := os.ReadFile(sidecar(d.cfg.Out)); err == nil && json.Unmarshal(b, &m) == nil && len(m.Objects) == 1 && m.Objects[0].same(o) {
		if fi, err := os.Stat(d.cfg.Out); err == nil && fi.Size() == o.Size && fi.Mode().Perm() == opts.Mode.Perm() {
			slog.Log(ctx, lvl, "unchanged, not downloaded", "ref", o.Ref, "out", d.cfg.Out, "etag", o.ETag)
			return false, nil
		}
	}
	t, err := atomicfile.Begin(d.cfg.Out, opts)
	if err != nil {
		return false, err
	}
	sha, err := d.download(ctx, o, t.File)
	if err == nil {
		err = t.Commit(ctx)
	} else {
		t.Abort()
	}
	if err != nil {
		return false, err
	}
	b, _ := json.MarshalIndent(manifest{Objects: []manifestEntry{{Name: filepath.Base(d.cfg.Out), Bucket: o.Bucket, Key: o.Key,
		VersionID: o.VersionID, ETag: o.ETag, Size: o.Size, SHA256: sha}}}, "", "  ")
	_, err = atomicfile.WriteFile(ctx, sidecar(d.cfg.Out), append(b, '\n'), atomicfile.Options{Mode: 0o644, Owner: opts.Owner})
	slog.InfoContext(ctx, "downloaded", "ref", o.Ref, "out", d.cfg.Out, "bytes", o.Size)
	return true, err
}

func (d *downloader) toStdout(ctx context.Context, o source.Object) error {
	src := d.sources[schemeOf(o)].(source.ObjectSource)
	w := d.cfg.Stdout
	if w == nil {
		w = os.Stdout
	}
	_, err := src.Get(ctx, o, 0, -1, w)
	return err
}

// download writes one object into f: whole for small objects, in parallel
// ranges for large ones. It verifies the size and what the source can check,
// and returns the content's SHA-256 (hex).
func (d *downloader) download(ctx context.Context, o source.Object, f *os.File) (string, error) {
	src := d.sources[schemeOf(o)].(source.ObjectSource)
	part := d.cfg.PartSize
	if part <= 0 {
		part = DefaultPartSize
	}
	var (
		info source.GetInfo
		sha  hash.Hash
		by   string
	)
	if o.Size <= 2*part {
		slots := d.slots()
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
		attempt := 0
		err := retry.Do(ctx, d.policy(o.Ref+" "+o.Key), func(ctx context.Context) error {
			if attempt++; attempt > 1 {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return retry.Permanent(err)
				}
				if err := f.Truncate(0); err != nil {
					return retry.Permanent(err)
				}
			}
			sha = sha256.New()
			cw := &countingWriter{w: io.MultiWriter(f, sha), n: &d.meter.Bytes}
			var gerr error
			info, gerr = src.Get(ctx, o, 0, -1, cw)
			if gerr != nil {
				d.meter.Bytes.Add(-cw.written)
			}
			return gerr
		})
		<-slots
		if err != nil {
			return "", err
		}
		by = info.VerifiedBy
	} else {
		var v source.Verifier
		if err := retry.Do(ctx, d.policy(o.Ref+" "+o.Key+" checksum"), func(ctx context.Context) error {
			var err error
			v, err = src.Verifier(ctx, o)
			return err
		}); err != nil {
			return "", err
		}
		sums, err := d.ranged(ctx, src, o, f, part, v)
		if err != nil {
			return "", err
		}
		if sums.check != nil {
			if err := v.Verify(sums.check.Sum(nil)); err != nil {
				return "", err
			}
		}
		sha, by = sums.sha, v.What
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != o.Size {
		return "", retry.Permanent(fmt.Errorf("s3://%s/%s: wrote %d bytes, the object has %d", o.Bucket, o.Key, fileSize(fi), o.Size))
	}
	if by == "" {
		by = "size only (no full-object checksum; the ETag is not the MD5)"
	}
	slog.DebugContext(ctx, "verified", "ref", o.Ref, "key", o.Key, "by", by)
	return hex.EncodeToString(sha.Sum(nil)), nil
}

func schemeOf(o source.Object) string { return strings.SplitN(o.Ref, "://", 2)[0] }

func fileSize(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// digests are what a ranged download computes over its content: the SHA-256
// for the manifest and, when the source can verify it, the verifier's hash.
type digests struct{ sha, check hash.Hash }

func newDigests(v source.Verifier) *digests {
	d := &digests{sha: sha256.New()}
	if v.New != nil {
		d.check = v.New()
	}
	return d
}

type countingWriter struct {
	w       io.Writer
	n       *atomic.Int64
	written int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.written += int64(n)
	c.n.Add(int64(n))
	return n, err
}

// ranged downloads a large object in parts, in parallel, each part retried
// on its own. It hashes the parts in order as they complete, reading them
// back while they are in the page cache (the SHA-256 and the verifier's hash
// each on its own core), so hashing overlaps the transfer; and it starts the
// disk writeback of each hashed part, so the final fsync has little left.
func (d *downloader) ranged(ctx context.Context, src source.ObjectSource, o source.Object, f *os.File, part int64, v source.Verifier) (*digests, error) {
	if err := f.Truncate(o.Size); err != nil {
		return nil, err
	}
	n := int((o.Size + part - 1) / part)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	doneParts := make(chan int, n)
	slots := d.slots()
	for i := range n {
		go func() {
			off := int64(i) * part
			size := min(part, o.Size-off)
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			err := retry.Do(ctx, d.policy(fmt.Sprintf("%s %s part %d/%d", o.Ref, o.Key, i+1, n)), func(ctx context.Context) error {
				cw := &countingWriter{w: io.NewOffsetWriter(f, off), n: &d.meter.Bytes}
				_, err := src.Get(ctx, o, off, size, cw)
				if err != nil {
					d.meter.Bytes.Add(-cw.written)
				}
				return err
			})
			if err != nil {
				cancel(err)
				return
			}
			doneParts <- i
		}()
	}
	sums := newDigests(v)
	hashers := []hash.Hash{sums.sha}
	if sums.check != nil {
		hashers = append(hashers, sums.check)
	}
	bufs := make([][]byte, len(hashers))
	for i := range bufs {
		bufs[i] = make([]byte, 1<<20)
	}
	complete := make([]bool, n)
	next := 0
	for next < n {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case i := <-doneParts:
			complete[i] = true
		}
		for next < n && complete[next] {
			off := int64(next) * part
			size := min(part, o.Size-off)
			errs := make([]error, len(hashers))
			var wg sync.WaitGroup
			for j, h := range hashers {
				wg.Go(func() {
					_, errs[j] = io.CopyBuffer(h, io.NewSectionReader(f, off, size), bufs[j])
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return nil, err
			}
			_ = atomicfile.StartWriteback(f, off, size) // best effort: the fsync after it is what counts
			next++
		}
	}
	return sums, nil
}
