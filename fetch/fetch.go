// Package fetch reads secrets and objects named by references and writes
// them into a volume in the format the application wants, atomically, with
// restrictive modes, never printing a value. It is the library behind
// `initbox fetch`; cli.go maps flags onto Config. Each source (vault://,
// s3://) is a package of its own that registers with fetch/source.
//
//	err := fetch.Run(ctx, fetch.Config{
//		Refs:    []string{"vault://secret/app/db"},
//		Out:     "/secrets/db.env",
//		Sources: map[string]source.Options{"vault": &vault.Options{Auth: "kubernetes", Role: "app"}},
//	})
package fetch

import (
	"context"
	"crypto/sha256"
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
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/internal/watch"
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
	// Format is raw, json, yaml, dotenv, shell, env-file, systemd,
	// properties or dir; "" infers it
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
	// Sources hold each source's own options by scheme ("vault":
	// *vault.Options); a source not listed runs with its defaults.
	Sources map[string]source.Options
	// TLS applies to every source.
	TLS tlsconfig.Options
	// Concurrency bounds parallel object downloads (whole objects and
	// parts); 0 means DefaultConcurrency.
	Concurrency int
	// PartSize is the size of a ranged part of a large object; 0 means
	// DefaultPartSize. Objects up to twice this size are fetched whole.
	PartSize int64
	// Include and Exclude filter the objects under a prefix by their
	// relative name (globs: * and ? within a path element, ** across).
	Include, Exclude []string
	// MaxBytes and MaxObjects cap what object references may bring, as
	// listed (after --include/--exclude), before anything is downloaded; 0
	// means DefaultMaxBytes, DefaultMaxObjects.
	MaxBytes   int64
	MaxObjects int
	// ProgressEvery is how often a transfer in progress is logged (objects,
	// bytes, rate, ETA); 0 means every 5 s.
	ProgressEvery time.Duration
	// Stdout receives the output when Out is "-".
	Stdout io.Writer
	// Watch, if set, keeps the output fresh after the first pass (--watch):
	// KV re-read at its Refresh, leases renewed or read anew before they
	// end, certificates issued anew, objects re-listed.
	Watch *watch.Options
}

// plan is a checked Config.
type plan struct {
	refs    []source.Ref
	format  string
	owner   *atomicfile.Owner
	objects bool // object references (s3://): streamed, not merged
	sources map[string]source.Source
}

// Validate checks the configuration without reading files or calling out.
func (c Config) Validate() error {
	_, err := c.plan(context.Background(), false)
	return err
}

// plan checks the configuration and makes the sources it names (without
// load: nothing read, nothing sent).
func (c Config) plan(ctx context.Context, load bool) (*plan, error) {
	if len(c.Refs) == 0 {
		return nil, errors.New("no references: give at least one, e.g. vault://secret/app/db")
	}
	if c.Out == "" {
		return nil, errors.New("--out is required: the file (or directory, with --format dir) to write, or - for stdout")
	}
	if c.Watch != nil {
		if c.Out == "-" {
			return nil, errors.New("--watch keeps files fresh: give --out a file or directory, not -")
		}
		if err := c.Watch.Validate(); err != nil {
			return nil, err
		}
	}
	p := &plan{format: strings.ToLower(c.Format)}
	redact.Public(c.Out, c.Receipt)
	if err := c.makeSources(ctx, p, load); err != nil {
		return nil, err
	}
	if err := c.checkObjects(p); err != nil {
		return nil, err
	}
	if err := c.checkFormat(p); err != nil {
		return nil, err
	}
	if c.Owner != "" {
		o, err := atomicfile.ParseOwner(c.Owner)
		if err != nil {
			return nil, err
		}
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("--owner %s needs root (the init container runs as uid %d); set the pod's fsGroup, or --mode", c.Owner, os.Geteuid())
		}
		p.owner = o
	}
	if c.Mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("--mode %o: only permission bits", c.Mode)
	}
	return p, nil
}

// makeSources parses the references and makes one source per scheme.
func (c Config) makeSources(ctx context.Context, p *plan, load bool) error {
	p.sources = map[string]source.Source{}
	kinds := map[bool][]string{} // objects? → references
	for _, raw := range c.Refs {
		r, err := source.ParseRef(raw)
		if err != nil {
			return err
		}
		p.refs = append(p.refs, r)
		prov, _ := source.Lookup(r.URL.Scheme) // ParseRef refused an unknown scheme
		s, ok := p.sources[prov.Scheme]
		if !ok {
			opts := c.Sources[prov.Scheme]
			if opts == nil {
				opts = prov.Options()
			}
			if s, err = opts.New(ctx, source.Env{TLS: c.TLS}, load); err != nil {
				return err
			}
			p.sources[prov.Scheme] = s
		}
		if err := s.CheckRef(r); err != nil {
			return err
		}
		kinds[prov.Objects] = append(kinds[prov.Objects], r.Display)
	}
	if len(kinds) == 2 {
		return fmt.Errorf("one fetch reads secrets or objects, not both (%s and %s): use two steps", kinds[false][0], kinds[true][0])
	}
	p.objects = len(kinds[true]) > 0
	return nil
}

// checkObjects settles the format of object references (written as they
// are: one file, or a tree) and checks the download options.
func (c Config) checkObjects(p *plan) error {
	if c.Concurrency < 0 || c.PartSize < 0 || c.MaxBytes < 0 || c.MaxObjects < 0 {
		return errors.New("--concurrency, --part-size, --max-bytes and --max-objects must not be negative")
	}
	if c.PartSize != 0 && c.PartSize < 5<<20 {
		return errors.New("--part-size: at least 5 MiB")
	}
	for _, g := range append(slices.Clone(c.Include), c.Exclude...) {
		if _, err := glob.Match(g, "x"); err != nil {
			return fmt.Errorf("glob %q: %w", g, err)
		}
	}
	if !p.objects {
		return nil
	}
	prefix := strings.HasSuffix(c.Out, "/") || len(p.refs) > 1
	for _, r := range p.refs {
		prefix = prefix || r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/")
	}
	switch {
	case p.format != "" && p.format != Raw && p.format != DirFormat:
		return fmt.Errorf("--format %s: objects are written as they are (raw for one object, dir for a tree)", c.Format)
	case p.format == "" && prefix:
		p.format = DirFormat
	case p.format == "":
		p.format = Raw
	case p.format == Raw && prefix:
		return errors.New("--format raw writes one object; a prefix or several references need a directory (--out DIR/)")
	}
	return nil
}

// checkFormat settles the output format of secrets and checks that it can
// hold what the references read.
func (c Config) checkFormat(p *plan) error {
	single := len(p.refs) == 1 && p.refs[0].Key != ""
	if p.format == "" {
		if p.format = formatFor(c.Out, single); p.format == "" {
			return fmt.Errorf("--format: cannot tell from %q; give raw, json, yaml, dotenv, shell, env-file, systemd, properties or dir", c.Out)
		}
	}
	switch p.format {
	case Raw:
		if !single && !p.objects {
			return errors.New("--format raw writes one value: give one reference with a key (vault://secret/app#password)")
		}
	case JSON, YAML, Dotenv, Shell, EnvFile, Systemd, Properties:
	case DirFormat:
		if c.Out == "-" {
			return errors.New("--format dir writes a directory; it cannot go to stdout")
		}
	default:
		return fmt.Errorf("--format %q: use raw, json, yaml, dotenv, shell, env-file, systemd, properties or dir", c.Format)
	}
	return nil
}

// Run reads every reference and writes the output. Exit codes: 2 for bad
// configuration, 1 for a missing secret or key, a denied path or a login
// that failed, 124 when --timeout ran out while the source was sealed or
// away. With Watch, the first pass is that run; Run then keeps the output
// fresh until ctx ends, and returns nil (watch.Run).
func Run(ctx context.Context, c Config) (err error) {
	p, err := c.plan(ctx, true)
	if err != nil {
		return exitcode.Usage(err)
	}
	displays := make([]string, len(p.refs))
	for i, r := range p.refs {
		displays[i] = r.Display
	}
	slog.InfoContext(ctx, "fetching", "refs", displays, "out", c.Out, "format", p.format)
	defer func() {
		for scheme, s := range p.sources {
			if cerr := s.Close(ctx); cerr != nil {
				slog.WarnContext(ctx, "closing the source failed", "source", scheme, "error", cerr)
				if err == nil {
					err = cerr
				}
			}
		}
	}()
	k := &keeper{kept: make([]kept, len(p.refs))}
	if c.Watch == nil {
		_, err := c.first(ctx, p, k)
		return err
	}
	o := *c.Watch
	o.Command, o.PassTimeout = "fetch", c.Timeout
	return watch.Run(ctx, o, func(ctx context.Context, first bool) (watch.Report, error) {
		if first {
			return c.first(ctx, p, k)
		}
		return c.pass(ctx, p, k, false)
	})
}

// first logs in to every source and runs the first pass, within --timeout.
func (c Config) first(ctx context.Context, p *plan, k *keeper) (watch.Report, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	for scheme, s := range p.sources {
		if err := retry.Do(ctx, c.policy(ctx, scheme+" login"), s.Open); err != nil {
			return watch.Report{}, err
		}
	}
	return c.pass(ctx, p, k, true)
}

// pass brings the output up to date once: on the first pass every
// reference is read; on a later one (--watch) the logins are kept, and
// each reference is polled, renewed or read anew as keeper.get decides.
func (c Config) pass(ctx context.Context, p *plan, k *keeper, first bool) (watch.Report, error) {
	start := time.Now()
	var rep watch.Report
	k.relogged = false
	if !first {
		for scheme, s := range p.sources {
			kp, ok := s.(source.Keeper)
			if !ok {
				continue
			}
			var next time.Time
			var relogged bool
			err := retry.Do(ctx, c.policy(ctx, scheme+" login"), func(ctx context.Context) error {
				var err error
				next, relogged, err = kp.KeepLogin(ctx)
				return err
			})
			if err != nil {
				return rep, err
			}
			k.relogged = k.relogged || relogged
			rep.Next = sooner(rep.Next, next)
		}
	}
	if p.objects {
		changed, err := c.runObjects(ctx, p, first)
		if err != nil {
			return rep, err
		}
		if changed && !first {
			rep.Changed = []string{c.Out}
			slog.InfoContext(ctx, "republished", "out", c.Out)
		}
		if first {
			slog.InfoContext(ctx, "fetched", "out", c.Out, "elapsed", time.Since(start).Round(time.Millisecond))
		}
		return rep, nil
	}
	out, err := c.readSecrets(ctx, p, k, first)
	if err != nil {
		return rep, err
	}
	changed, err := c.write(ctx, p, out)
	if err != nil {
		return rep, err
	}
	if c.Receipt != "" && (first || changed) {
		b, _ := json.MarshalIndent(map[string]any{"out": c.Out, "format": p.format, "secrets": out.receipts}, "", "  ")
		if _, err := atomicfile.WriteFile(ctx, c.Receipt, append(b, '\n'), atomicfile.Options{Mode: 0o644, Owner: p.owner}); err != nil {
			return rep, err
		}
	}
	rep.Expiries = map[string]time.Time{}
	for i, kr := range k.kept {
		if kr.sec != nil && !kr.sec.Expires.IsZero() {
			rep.Expiries[p.refs[i].Display] = kr.sec.Expires
			rep.Next = sooner(rep.Next, kr.due)
		}
	}
	switch {
	case first:
		slog.InfoContext(ctx, "fetched", "out", c.Out, "format", p.format, "changed", changed, "elapsed", time.Since(start).Round(time.Millisecond))
	case changed:
		rep.Changed = out.changed
		if len(rep.Changed) == 0 {
			rep.Changed = []string{c.Out}
		}
		slog.InfoContext(ctx, "republished", "out", c.Out, "changed", rep.Changed, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return rep, nil
}

// sooner is the earlier of two times, a zero one not counting.
func sooner(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// keeper remembers, between the passes of --watch, what each reference
// read and when it is due again.
type keeper struct {
	kept     []kept // by reference
	relogged bool   // this pass logged in anew: leased values are read again
}

type kept struct {
	sec     *source.Secret // nil: an optional reference that named nothing
	read    bool           // read at least once
	due     time.Time      // a leased value's renewal
	life    time.Duration  // its lease's first length
	sum     [32]byte       // of its values, to tell a change
	changed bool           // this pass read different values
}

// get returns what reference i holds now: on the first pass it is read;
// later, a value without a lease is read again (a new KV version shows),
// an issued one without an end is kept, and a leased one is kept until
// its renewal is due, then renewed if the renewal covers two thirds of its
// first length, else read anew (a max TTL reached; a new login). fresh
// says it was read in this pass.
func (k *keeper) get(ctx context.Context, c Config, p *plan, i int, r source.Ref, first bool) (sec *source.Secret, fresh bool, err error) {
	kr := &k.kept[i]
	kr.changed = false
	src := p.sources[r.URL.Scheme]
	if !first && kr.read && kr.sec != nil {
		leased := !kr.sec.Expires.IsZero()
		switch {
		case !leased && kr.sec.Issued:
			return kr.sec, false, nil
		case leased && !k.relogged && time.Now().Before(kr.due):
			return kr.sec, false, nil
		case leased && !k.relogged:
			if kp, ok := src.(source.Keeper); ok {
				var end time.Time
				err := retry.Do(ctx, c.policy(ctx, r.Display+" renewal"), func(ctx context.Context) error {
					var err error
					end, err = kp.Renew(ctx, kr.sec)
					return err
				})
				if err == nil && !end.IsZero() && time.Until(end) >= 2*kr.life/3 {
					kr.sec.Expires, kr.due = end, source.RenewAt(end, kr.life)
					slog.InfoContext(ctx, "renewed", "ref", r.Display, "ttl", time.Until(end).Round(time.Second))
					return kr.sec, false, nil
				}
				if err != nil {
					slog.WarnContext(ctx, "renewal failed; reading anew", "ref", r.Display, "error", err)
				}
			}
		}
	}
	err = retry.Do(ctx, c.policy(ctx, r.Display), func(ctx context.Context) error {
		var err error
		sec, err = src.(source.SecretSource).Read(ctx, r)
		return err
	})
	if err != nil && !(errors.Is(err, source.ErrNotFound) && r.Optional) {
		return nil, false, err
	}
	var sum [32]byte
	if sec != nil {
		b, _ := json.Marshal(sec.Data)
		sum = sha256.Sum256(b)
		if !sec.Expires.IsZero() {
			kr.life = time.Until(sec.Expires)
			kr.due = source.RenewAt(sec.Expires, kr.life)
		}
	}
	kr.changed = kr.read && (sum != kr.sum || (sec == nil) != (kr.sec == nil))
	kr.sec, kr.sum, kr.read = sec, sum, true
	return sec, true, err
}

// policy is the retry policy of one operation, logging each retry.
func (c Config) policy(ctx context.Context, name string) retry.Policy {
	return retry.Policy{Name: name, Interval: c.Interval, MaxInterval: c.MaxInterval, AttemptTimeout: c.AttemptTimeout,
		Report: func(a retry.Attempt) {
			slog.InfoContext(ctx, "retrying", "what", name, "attempt", a.N, "elapsed", a.Elapsed.Round(time.Millisecond), "error", a.Err)
		}}
}

// secrets is what the references read: the combined values (or the one raw
// value) and the receipt's entries.
type secrets struct {
	values     map[string]any
	from       map[string]string // name → the reference that gave it
	raw        any
	rawMissing bool // the one optional value of a raw output is missing
	receipts   []source.Receipt
	changed    []string // references that read different values than last pass
}

// readSecrets reads every reference (or takes what k keeps), applying
// #key, #as, #optional and #default.
func (c Config) readSecrets(ctx context.Context, p *plan, k *keeper, first bool) (*secrets, error) {
	out := &secrets{values: map[string]any{}, from: map[string]string{}}
	for i, r := range p.refs {
		sec, fresh, err := k.get(ctx, c, p, i, r, first)
		if k.kept[i].changed {
			out.changed = append(out.changed, r.Display)
		}
		if errors.Is(err, source.ErrNotFound) && r.Optional {
			if fresh && first {
				slog.WarnContext(ctx, "optional reference names nothing", "ref", r.Display, "default", r.Default != nil)
			}
			out.receipts = append(out.receipts, source.Receipt{Ref: r.Display, Missing: true, Keys: []string{}, FetchedAt: time.Now().UTC()})
			if r.Default != nil {
				if err := out.put(p, r, r.Name(), *r.Default); err != nil {
					return nil, err
				}
			} else if p.format == Raw {
				out.rawMissing = true
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Display, err)
		}
		if fresh {
			attrs := []any{"ref", r.Display, "keys", len(sec.Data)}
			if d := sec.Receipt.Details; d != nil {
				for _, a := range d.LogAttrs() {
					attrs = append(attrs, a)
				}
			}
			switch {
			case first:
				slog.InfoContext(ctx, "read", attrs...)
			case k.kept[i].changed:
				slog.InfoContext(ctx, "changed", attrs...)
			default:
				slog.DebugContext(ctx, "read", attrs...)
			}
		}
		out.receipts = append(out.receipts, sec.Receipt)
		if r.Key == "" {
			for _, k := range slices.Sorted(maps.Keys(sec.Data)) {
				if err := out.add(k, sec.Data[k], r); err != nil {
					return nil, err
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
			out.rawMissing = p.format == Raw
			continue
		case !ok:
			return nil, exitcode.WithCode(exitcode.Failure, fmt.Errorf("%s: no key %q in the secret; it has %s", r.Display, r.Key, keyList(sec.Data)))
		}
		if err := out.put(p, r, r.Name(), v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// put sets a single-key reference's value: the raw output, or one name of
// the combined one.
func (s *secrets) put(p *plan, r source.Ref, name string, v any) error {
	if p.format == Raw {
		s.raw = v
		return nil
	}
	return s.add(name, v, r)
}

// add puts one named value into the combined output, refusing a name that
// two references give.
func (s *secrets) add(name string, v any, r source.Ref) error {
	if prev, dup := s.from[name]; dup {
		return exitcode.Usage(fmt.Errorf("%q is given by both %s and %s; rename one with #key=%s,as=OTHER", name, prev, r.Display, name))
	}
	s.values[name], s.from[name] = v, r.Display
	return nil
}

func keyList(data map[string]any) string {
	if len(data) == 0 {
		return "no keys"
	}
	return "keys " + strings.Join(slices.Sorted(maps.Keys(data)), ", ")
}

// write publishes the output and reports whether anything changed on disk.
func (c Config) write(ctx context.Context, p *plan, out *secrets) (bool, error) {
	values := out.values
	mode := c.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	var data []byte
	switch p.format {
	case Raw:
		if out.rawMissing && out.raw == nil {
			slog.WarnContext(ctx, "nothing to write: the optional value is missing", "out", c.Out)
			return false, nil
		}
		data = valueBytes(out.raw)
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
