// Package fetch reads secrets (and, with the S3 source, objects) named by
// references and writes them into a volume in the format the application
// wants, atomically, with restrictive modes, never printing a value. It is
// the library behind `initbox fetch`; cli.go maps flags onto Config.
//
//	err := fetch.Run(ctx, fetch.Config{
//		Refs: []string{"vault://secret/app/db"},
//		Out:  "/secrets/db.env",
//		Vault: source.VaultOptions{Auth: "kubernetes", Role: "app"},
//	})
package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/initbox/initbox/fetch/source"
	"github.com/initbox/initbox/internal/atomicfile"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/glob"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/internal/retry"
)

// DefaultMode is the mode of files that hold secrets.
const DefaultMode fs.FileMode = 0o600

// Config says what to fetch and where to write it.
type Config struct {
	// Refs are the references to read, e.g. vault://secret/app/db#password.
	Refs []string
	// Out is the output file, a directory for Format "dir", or "-" for
	// stdout.
	Out string
	// Format is raw, json, yaml, dotenv, properties or dir; "" infers it
	// from Out's extension (raw for a single value).
	Format string
	// Mode of the written files; 0 means DefaultMode.
	Mode fs.FileMode
	// Owner is "uid:gid" for the written files; needs root.
	Owner string
	// Receipt, if set, receives a JSON record of what was read (no values).
	Receipt string
	// Timeout is the overall deadline (0 = none); AttemptTimeout bounds one
	// request; Interval and MaxInterval shape the backoff.
	Timeout, AttemptTimeout, Interval, MaxInterval time.Duration
	// Vault configures vault:// references.
	Vault source.VaultOptions
	// S3 configures s3:// references.
	S3 source.S3Options
	// Concurrency bounds parallel object downloads (whole objects and
	// parts); 0 means DefaultConcurrency.
	Concurrency int
	// PartSize is the size of a ranged part of a large object; 0 means
	// DefaultPartSize. Objects up to twice this size are fetched whole.
	PartSize int64
	// Include and Exclude filter the objects under a prefix by their
	// relative name (globs: * and ? within a path element, ** across).
	Include, Exclude []string
	// ProgressEvery is how often a transfer in progress is logged (objects,
	// bytes, rate, ETA); 0 means every 5 s.
	ProgressEvery time.Duration
	// Stdout receives the output when Out is "-".
	Stdout io.Writer
}

// plan is a checked Config.
type plan struct {
	refs    []source.Ref
	format  string
	owner   *atomicfile.Owner
	objects bool // object references (s3://): streamed, not merged
}

// Validate checks the configuration without reading files or calling out.
func (c Config) Validate() error {
	_, _, err := c.plan(context.Background(), false)
	return err
}

func (c Config) plan(ctx context.Context, load bool) (*plan, map[string]source.Source, error) {
	if len(c.Refs) == 0 {
		return nil, nil, errors.New("no references: give at least one, e.g. vault://secret/app/db")
	}
	if c.Out == "" {
		return nil, nil, errors.New("--out is required: the file (or directory, with --format dir) to write, or - for stdout")
	}
	p := &plan{}
	single := len(c.Refs) == 1
	for _, raw := range c.Refs {
		r, err := source.ParseRef(raw)
		if err != nil {
			return nil, nil, err
		}
		if r.Key == "" {
			single = false
		}
		p.refs = append(p.refs, r)
	}
	sources := map[string]source.Source{}
	kinds := map[bool][]string{}
	for _, r := range p.refs {
		s, ok := sources[r.URL.Scheme]
		if !ok {
			open, known := sourceFactories[r.URL.Scheme]
			if !known {
				return nil, nil, fmt.Errorf("reference %s: unknown scheme %q; this build fetches from %s", r.Display, r.URL.Scheme, knownSchemes())
			}
			var err error
			if s, err = open(ctx, c, load); err != nil {
				return nil, nil, err
			}
			sources[r.URL.Scheme] = s
		}
		if err := s.CheckRef(r); err != nil {
			return nil, nil, err
		}
		_, isObj := s.(source.ObjectSource)
		kinds[isObj] = append(kinds[isObj], r.Display)
	}
	if len(kinds) == 2 {
		return nil, nil, fmt.Errorf("one fetch reads secrets or objects, not both (%s and %s): use two steps", kinds[false][0], kinds[true][0])
	}
	p.objects = len(kinds[true]) > 0
	p.format = strings.ToLower(c.Format)
	if p.objects {
		// Objects are written as they are: one file, or a tree.
		prefix := strings.HasSuffix(c.Out, "/") || len(p.refs) > 1
		for _, r := range p.refs {
			prefix = prefix || r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/")
		}
		switch {
		case p.format != "" && p.format != Raw && p.format != DirFormat:
			return nil, nil, fmt.Errorf("--format %s: objects are written as they are (raw for one object, dir for a tree)", c.Format)
		case p.format == "" && prefix:
			p.format = DirFormat
		case p.format == "":
			p.format = Raw
		case p.format == Raw && prefix:
			return nil, nil, errors.New("--format raw writes one object; a prefix or several references need a directory (--out DIR/)")
		}
	}
	if c.Concurrency < 0 || c.PartSize < 0 {
		return nil, nil, errors.New("--concurrency and --part-size must not be negative")
	}
	if c.PartSize != 0 && c.PartSize < 5<<20 {
		return nil, nil, errors.New("--part-size: at least 5 MiB")
	}
	for _, g := range append(slices.Clone(c.Include), c.Exclude...) {
		if _, err := glob.Match(g, "x"); err != nil {
			return nil, nil, fmt.Errorf("glob %q: %w", g, err)
		}
	}
	if p.format == "" {
		p.format = formatFor(c.Out, single)
		if p.format == "" {
			return nil, nil, fmt.Errorf("--format: cannot tell from %q; give raw, json, yaml, dotenv, properties or dir", c.Out)
		}
	}
	switch p.format {
	case Raw:
		if !single && !p.objects {
			return nil, nil, errors.New("--format raw writes one value: give one reference with a key (vault://secret/app#password)")
		}
	case JSON, YAML, Dotenv, Properties:
	case DirFormat:
		if c.Out == "-" {
			return nil, nil, errors.New("--format dir writes a directory; it cannot go to stdout")
		}
	default:
		return nil, nil, fmt.Errorf("--format %q: use raw, json, yaml, dotenv, properties or dir", c.Format)
	}
	if c.Owner != "" {
		o, err := atomicfile.ParseOwner(c.Owner)
		if err != nil {
			return nil, nil, err
		}
		if os.Geteuid() != 0 {
			return nil, nil, fmt.Errorf("--owner %s needs root (the init container runs as uid %d); set the pod's fsGroup, or --mode", c.Owner, os.Geteuid())
		}
		p.owner = o
	}
	if c.Mode&^fs.ModePerm != 0 {
		return nil, nil, fmt.Errorf("--mode %o: only permission bits", c.Mode)
	}
	return p, sources, nil
}

// sourceFactories are filled by build-tagged files (source_vault.go, …).
var sourceFactories = map[string]func(ctx context.Context, c Config, load bool) (source.Source, error){}

func knownSchemes() string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(sourceFactories)) {
		s = append(s, k+"://")
	}
	return strings.Join(s, ", ")
}

// Run reads every reference and writes the output. Exit codes: 2 for bad
// configuration, 1 for a missing secret or key, a denied path or a login
// that failed, 124 when --timeout ran out while Vault was sealed or away.
func Run(ctx context.Context, c Config) (err error) {
	p, sources, err := c.plan(ctx, true)
	if err != nil {
		return exitcode.Usage(err)
	}
	start := time.Now()
	displays := make([]string, len(p.refs))
	for i, r := range p.refs {
		displays[i] = r.Display
	}
	slog.InfoContext(ctx, "fetching", "refs", displays, "out", c.Out, "format", p.format)
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	defer func() {
		for scheme, s := range sources {
			if cerr := s.Close(ctx); cerr != nil {
				slog.WarnContext(ctx, "closing the source failed", "source", scheme, "error", cerr)
				if err == nil {
					err = cerr
				}
			}
		}
	}()
	policy := func(name string) retry.Policy {
		return retry.Policy{Name: name, Interval: c.Interval, MaxInterval: c.MaxInterval, AttemptTimeout: c.AttemptTimeout,
			Report: func(a retry.Attempt) {
				slog.InfoContext(ctx, "retrying", "what", name, "attempt", a.N, "elapsed", a.Elapsed.Round(time.Millisecond), "error", a.Err)
			}}
	}
	for scheme, s := range sources {
		if err := retry.Do(ctx, policy(scheme+" login"), s.Open); err != nil {
			return err
		}
	}
	if p.objects {
		if err := c.runObjects(ctx, p, sources, policy); err != nil {
			return err
		}
		slog.InfoContext(ctx, "fetched", "out", c.Out, "elapsed", time.Since(start).Round(time.Millisecond))
		return nil
	}

	values := map[string]any{}
	from := map[string]string{} // name → the reference that gave it
	var receipts []source.Receipt
	var rawValue any
	rawMissing := false
	for _, r := range p.refs {
		var sec *source.Secret
		err := retry.Do(ctx, policy(r.Display), func(ctx context.Context) error {
			var err error
			sec, err = sources[r.URL.Scheme].(source.SecretSource).Read(ctx, r)
			return err
		})
		if errors.Is(err, source.ErrNotFound) && r.Optional {
			slog.WarnContext(ctx, "optional reference names nothing", "ref", r.Display, "default", r.Default != nil)
			receipts = append(receipts, source.Receipt{Ref: r.Display, Missing: true, Keys: []string{}, FetchedAt: time.Now().UTC()})
			if r.Default != nil {
				if p.format == Raw {
					rawValue = *r.Default
				} else if err := add(values, from, r.Name(), *r.Default, r); err != nil {
					return err
				}
			} else if p.format == Raw {
				rawMissing = true
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.Display, err)
		}
		slog.InfoContext(ctx, "read", "ref", r.Display, "path", sec.Receipt.Path, "engine", sec.Receipt.Engine,
			"version", sec.Receipt.Version, "lease_ttl", time.Duration(sec.Receipt.LeaseDuration)*time.Second, "keys", len(sec.Data))
		receipts = append(receipts, sec.Receipt)
		if r.Key == "" {
			for _, k := range slices.Sorted(maps.Keys(sec.Data)) {
				if err := add(values, from, k, sec.Data[k], r); err != nil {
					return err
				}
			}
			continue
		}
		v, ok := sec.Data[r.Key]
		switch {
		case !ok && r.Default != nil:
			v = *r.Default
		case !ok && r.Optional:
			slog.WarnContext(ctx, "optional key missing", "ref", r.Display, "key", r.Key)
			rawMissing = p.format == Raw
			continue
		case !ok:
			return exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: no key %q in the secret; it has %s", r.Display, r.Key, keyList(sec.Data)))
		}
		if p.format == Raw {
			rawValue = v
			continue
		}
		if err := add(values, from, r.Name(), v, r); err != nil {
			return err
		}
	}

	changed, err := c.write(ctx, p, values, rawValue, rawMissing)
	if err != nil {
		return err
	}
	if c.Receipt != "" {
		b, _ := json.MarshalIndent(map[string]any{"out": c.Out, "format": p.format, "secrets": receipts}, "", "  ")
		if _, err := atomicfile.WriteFile(ctx, c.Receipt, append(b, '\n'), atomicfile.Options{Mode: 0o644, Owner: p.owner}); err != nil {
			return err
		}
	}
	slog.InfoContext(ctx, "fetched", "out", c.Out, "format", p.format, "changed", changed, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// add puts one named value into the combined output, refusing a name that
// two references give.
func add(values map[string]any, from map[string]string, name string, v any, r source.Ref) error {
	if prev, dup := from[name]; dup {
		return exitcode.Usage(fmt.Errorf("%q is given by both %s and %s; rename one with #key=%s,as=OTHER", name, prev, r.Display, name))
	}
	values[name], from[name] = v, r.Display
	return nil
}

func keyList(data map[string]any) string {
	if len(data) == 0 {
		return "no keys"
	}
	return "keys " + strings.Join(slices.Sorted(maps.Keys(data)), ", ")
}

// write publishes the output and reports whether anything changed on disk.
func (c Config) write(ctx context.Context, p *plan, values map[string]any, raw any, rawMissing bool) (bool, error) {
	mode := c.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	var data []byte
	switch p.format {
	case Raw:
		if rawMissing && raw == nil {
			slog.WarnContext(ctx, "nothing to write: the optional value is missing", "out", c.Out)
			return false, nil
		}
		data = valueBytes(raw)
	case DirFormat:
		names := slices.Sorted(maps.Keys(values))
		for _, n := range names {
			if err := checkDirName(n); err != nil {
				return false, exitcode.WithCode(exitcode.Failure, fmt.Errorf("writing %s: %w; rename it with #key=…,as=NAME", c.Out, err))
			}
		}
		return publish.Dir(ctx, c.Out, publish.Options{Mode: mode, Owner: p.owner}, func(s *publish.Stage) error {
			for _, n := range names {
				if err := s.WriteFile(n, valueBytes(values[n])); err != nil {
					return err
				}
			}
			return nil
		})
	default:
		var err error
		if data, err = encode(p.format, values); err != nil {
			return false, exitcode.WithCode(exitcode.Failure, fmt.Errorf("writing %s as %s: %w", c.Out, p.format, err))
		}
	}
	if c.Out == "-" {
		w := c.Stdout
		if w == nil {
			w = os.Stdout
		}
		_, err := w.Write(data)
		return true, err
	}
	return atomicfile.WriteFile(ctx, c.Out, data, atomicfile.Options{Mode: mode, Owner: p.owner})
}
