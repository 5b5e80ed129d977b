// Package git is seed's git source: a commit's tree written into the
// volume with go-git (no git binary in the image), over https, ssh or
// file://, with --git-submodules the commits its submodules record. The
// clone is shallow for a branch or tag; only the tree is written (no .git),
// entry by entry through seed's checks, like an archive's.
//
//	git+https://git.example.com/org/app.git   https://…/repo.git
//	git+ssh://git@host/org/app.git            git@host:org/app.git
//	git+file:///srv/repo.git
package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/initbox/initbox/internal/limit"
	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
	"github.com/initbox/initbox/seed/source"
)

// Options configure the git source.
type Options struct {
	// Ref is a branch, tag or full commit hash (default: the remote's HEAD).
	Ref string
	// TokenFile holds an HTTPS token; SSHKeyFile a private key, whose host
	// is checked against KnownHosts.
	TokenFile, SSHKeyFile, KnownHosts string
	// Submodules checks out the commits the tree's submodules record,
	// recursively, each at its path.
	Submodules bool
}

// Provider registers git sources with seed.
var Provider = source.Provider{
	Name:    "git",
	Claims:  Claims,
	Options: func() source.Options { return &Options{} },
}

// Claims tells a git source: git+…, git://, git@host:…, or a URL ending in
// .git.
func Claims(src string) bool {
	return strings.HasPrefix(src, "git+") || strings.HasPrefix(src, "git://") || strings.HasPrefix(src, "git@") ||
		strings.HasSuffix(strings.TrimSuffix(src, "/"), ".git")
}

// Set names the git flags given.
func (o *Options) Set() []string {
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"--git-ref", o.Ref != ""}, {"--git-token-file", o.TokenFile != ""}, {"--git-ssh-key-file", o.SSHKeyFile != ""},
		{"--git-known-hosts", o.KnownHosts != ""}, {"--git-submodules", o.Submodules}} {
		if f.on {
			set = append(set, f.name)
		}
	}
	return set
}

// New checks the options.
func (o *Options) New(src string, _ source.Env) (source.Source, error) {
	r := &repo{opts: *o, url: strings.TrimPrefix(src, "git+")}
	if err := checkTransport(r.url); err != nil {
		return nil, fmt.Errorf("source %s: %v", redact.URLString(src), err)
	}
	if o.SSHKeyFile != "" && o.KnownHosts == "" {
		return nil, errors.New("--git-ssh-key-file needs --git-known-hosts: host keys are always checked")
	}
	if o.TokenFile != "" && o.SSHKeyFile != "" {
		return nil, errors.New("--git-token-file and --git-ssh-key-file: give one")
	}
	return r, nil
}

func init() {
	// Every HTTP answer is capped: go-git reads an error's body whole into
	// its message, and a pack as long as the server sends it.
	for _, p := range []string{"http", "https"} {
		client.InstallProtocol(p, githttp.NewClient(&http.Client{Transport: cappedTransport{http.DefaultTransport}}))
	}
	// file:// in-process: go-git's own would run git-upload-pack, which a
	// FROM scratch image does not have.
	client.InstallProtocol("file", server.NewServer(worktreeLoader{}))
}

// worktreeLoader serves file:// repositories in process, bare or not (a
// working tree's .git): for ls-remote, since a checkout reads them where
// they are (openLocal).
type worktreeLoader struct{}

func (worktreeLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	if fi, err := os.Stat(filepath.Join(ep.Path, ".git")); err == nil && fi.IsDir() {
		e := *ep
		e.Path = filepath.Join(ep.Path, ".git")
		return server.DefaultLoader.Load(&e)
	}
	return server.DefaultLoader.Load(ep)
}

// largeObject is the size above which an object is streamed from its pack
// when read, not held in memory.
const largeObject = 1 << 20

// openLocal opens a file:// repository where it is: no pack is made and
// parsed again (go-git's in-process server holds one in memory), and a
// large file streams from the repository's own objects.
func openLocal(url string) (*git.Repository, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, err
	}
	dir := ep.Path
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err == nil && fi.IsDir() {
		dir = filepath.Join(dir, ".git")
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir, osfs.WithBoundOS()), cache.NewObjectLRU(8<<20),
		filesystem.Options{LargeObjectThreshold: largeObject})
	return git.Open(st, nil)
}

// repo is one repository to check out with go-git.
type repo struct {
	opts Options
	url  string // without initbox's git+ prefix
}

var _ source.Tree = (*repo)(nil)

func (r *repo) String() string { return redact.URLString("git+" + r.url) }

func (r *repo) auth() (transport.AuthMethod, error) {
	switch {
	case r.opts.TokenFile != "":
		b, err := os.ReadFile(r.opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--git-token-file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		redact.Register(token)
		return &githttp.BasicAuth{Username: "git", Password: token}, nil
	case r.opts.SSHKeyFile != "":
		keys, err := gitssh.NewPublicKeysFromFile("git", r.opts.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("--git-ssh-key-file: %w", err)
		}
		cb, err := knownhosts.New(r.opts.KnownHosts)
		if err != nil {
			return nil, fmt.Errorf("--git-known-hosts: %w", err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	}
	return nil, nil
}

// Resolve asks the remote which commit the ref names (ls-remote), without
// cloning: a re-run whose commit is seeded already stops there. A full
// commit hash resolves to itself. The digest is git:COMMIT, with
// +submodules when they are checked out too (other content).
func (r *repo) Resolve(ctx context.Context) (digest, ref string, err error) {
	commit, ref, err := r.resolve(ctx)
	if err != nil {
		return "", "", err
	}
	digest = "git:" + commit
	if r.opts.Submodules {
		digest += "+submodules"
	}
	return digest, ref, nil
}

func (r *repo) resolve(ctx context.Context) (string, string, error) {
	ref := r.opts.Ref
	if isHash(ref) {
		return strings.ToLower(ref), "", nil
	}
	auth, err := r.auth()
	if err != nil {
		return "", "", retry.Permanent(err)
	}
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", "", classifyGit(err, r.url)
	}
	want := []plumbing.ReferenceName{plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref), plumbing.ReferenceName(ref)}
	if ref == "" {
		want = []plumbing.ReferenceName{plumbing.HEAD}
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, rf := range refs {
		byName[rf.Name()] = rf
	}
	for _, n := range want {
		rf, ok := byName[n]
		if !ok {
			continue
		}
		if rf.Type() == plumbing.SymbolicReference {
			if t, ok := byName[rf.Target()]; ok {
				return t.Hash().String(), string(t.Name()), nil
			}
			continue
		}
		if peeled, ok := byName[plumbing.ReferenceName(string(n)+"^{}")]; ok {
			return peeled.Hash().String(), string(n), nil // an annotated tag: its commit
		}
		return rf.Hash().String(), string(n), nil
	}
	return "", "", retry.Permanent(fmt.Errorf("%s: no branch or tag %q", redact.URLString(r.url), ref))
}

// Write clones the commit and writes its tree, and with --git-submodules
// the trees of the commits its submodules record.
func (r *repo) Write(ctx context.Context, digest, ref string, w source.Writer) error {
	auth, err := r.auth()
	if err != nil {
		return retry.Permanent(err)
	}
	commit := strings.TrimSuffix(strings.TrimPrefix(digest, "git:"), "+submodules")
	return r.writeCommit(ctx, r.url, auth, commit, ref, "", w, 0)
}

// maxSubmoduleDepth bounds submodules of submodules (a cycle of them).
const maxSubmoduleDepth = 8

// writeCommit clones url and writes the tree of commit under prefix.
func (r *repo) writeCommit(ctx context.Context, url string, auth transport.AuthMethod, commit, ref, prefix string, w source.Writer, depth int) error {
	// Without a ref (a commit hash, a submodule's commit): every branch and
	// tag, since the commit may be reachable from any of them.
	opts := &git.CloneOptions{URL: url, Auth: auth, NoCheckout: true, Tags: git.AllTags}
	if ref != "" {
		opts.ReferenceName, opts.SingleBranch, opts.Tags = plumbing.ReferenceName(ref), true, git.NoTags
		if !strings.HasPrefix(url, "file://") {
			opts.Depth = 1 // the in-process file:// server does not do shallow clones
		}
	}
	repo, err := r.clone(ctx, url, opts, w)
	if err != nil {
		return err
	}
	co, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		// A server that does not peel tags named the annotated tag itself.
		if tag, terr := repo.TagObject(plumbing.NewHash(commit)); terr == nil {
			co, err = tag.Commit()
		}
	}
	if err != nil {
		return retry.Permanent(fmt.Errorf("%s: commit %s: %w", redact.URLString(url), commit, err))
	}
	tree, err := co.Tree()
	if err != nil {
		return retry.Permanent(err)
	}
	if err := writeTree(tree, prefix, w); err != nil {
		return retry.Permanent(fmt.Errorf("%w; nothing is published", err))
	}
	if !r.opts.Submodules {
		return nil
	}
	return r.writeSubmodules(ctx, url, auth, tree, prefix, w, depth)
}

// clone gets a repository's objects: a local one is opened where it is; a
// remote one is cloned to disk, in a scratch directory of the stage, not to
// memory — a repository with a 150 MiB file must not take the pod's memory
// limit with it — its download within --max-bytes.
func (r *repo) clone(ctx context.Context, url string, opts *git.CloneOptions, w source.Writer) (*git.Repository, error) {
	if isLocal(url) {
		repo, err := openLocal(url)
		if err != nil {
			return nil, retry.Permanent(fmt.Errorf("%s: %v", redact.URLString(url), err))
		}
		return repo, nil
	}
	scratch, err := w.Scratch()
	if err != nil {
		return nil, err
	}
	ctx = withBudget(ctx, w.Budget())
	store := filesystem.NewStorageWithOptions(osfs.New(scratch, osfs.WithBoundOS()), cache.NewObjectLRU(8<<20),
		filesystem.Options{LargeObjectThreshold: largeObject})
	repo, err := git.CloneContext(ctx, store, nil, opts)
	if err != nil {
		return nil, classifyGit(err, url)
	}
	return repo, nil
}

// writeTree writes a tree's files and links under prefix.
func writeTree(tree *object.Tree, prefix string, w source.Writer) error {
	return tree.Files().ForEach(func(f *object.File) error {
		e := source.Entry{Name: f.Name, Mode: 0o644, Size: f.Size}
		if prefix != "" {
			e.Name = prefix + "/" + f.Name // not path.Join: the name's checks see it as it is
		}
		switch f.Mode {
		case filemode.Executable:
			e.Mode = 0o755
		case filemode.Regular, filemode.Deprecated:
		case filemode.Symlink:
			target, err := f.Contents()
			if err != nil {
				return err
			}
			e.Kind, e.Link, e.Size = source.Symlink, target, -1
			return w.Put(e)
		default:
			return nil
		}
		rd, err := f.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		e.Kind, e.Body = source.File, io.Reader(rd)
		return w.Put(e)
	})
}

// writeSubmodules writes the commits a tree's submodules record, each at
// its path.
func (r *repo) writeSubmodules(ctx context.Context, url string, auth transport.AuthMethod, tree *object.Tree, prefix string, w source.Writer, depth int) error {
	subs, err := submodules(tree)
	if err != nil {
		return retry.Permanent(fmt.Errorf("%s: %w", redact.URLString(url), err))
	}
	for _, s := range subs {
		at := path.Join(prefix, s.path)
		if depth >= maxSubmoduleDepth {
			return retry.Permanent(fmt.Errorf("submodule %s: more than %d levels of submodules", at, maxSubmoduleDepth))
		}
		subURL, err := submoduleURL(url, s.url)
		if err != nil {
			return retry.Permanent(fmt.Errorf("submodule %s: %w", at, err))
		}
		// A remote repository may not make initbox read this machine's
		// repositories (git refuses file:// submodules for the same reason);
		// a bare path is a local URL too.
		if isLocal(subURL) && !isLocal(url) {
			return retry.Permanent(fmt.Errorf("submodule %s: a local URL (%s) in a remote repository; refused", at, subURL))
		}
		if protocol(url) == "https" && (protocol(subURL) == "http" || protocol(subURL) == "git") {
			return retry.Permanent(fmt.Errorf("submodule %s: %s is unencrypted, and the repository is reached over https; refused", at, redact.URLString(subURL)))
		}
		// The superproject's token or key is for its own host only.
		subAuth := auth
		if !sameHost(url, subURL) {
			subAuth = nil
		}
		// The recorded commit need not be any branch's tip: a whole clone.
		if err := r.writeCommit(ctx, subURL, subAuth, s.commit, "", at, w, depth+1); err != nil {
			return fmt.Errorf("submodule %s: %w", at, err) // errors.As still finds a retry.Permanent
		}
	}
	return nil
}

func protocol(url string) string {
	e, err := transport.NewEndpoint(url)
	if err != nil {
		return ""
	}
	return e.Protocol
}

func isLocal(url string) bool {
	e, err := transport.NewEndpoint(url)
	return err != nil || e.Protocol == "file"
}

type submodule struct{ path, url, commit string }

// submodules lists a tree's submodule entries (gitlinks) with their URLs
// from its .gitmodules.
func submodules(tree *object.Tree) ([]submodule, error) {
	var subs []submodule
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, e, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.Mode == filemode.Submodule {
			subs = append(subs, submodule{path: name, commit: e.Hash.String()})
		}
	}
	if len(subs) == 0 {
		return nil, nil
	}
	f, err := tree.File(".gitmodules")
	if err != nil {
		return nil, fmt.Errorf("submodule %s has no .gitmodules entry", subs[0].path)
	}
	text, err := f.Contents()
	if err != nil {
		return nil, err
	}
	mods := config.NewModules()
	if err := mods.Unmarshal([]byte(text)); err != nil {
		return nil, fmt.Errorf(".gitmodules: %w", err)
	}
	for i := range subs {
		for _, m := range mods.Submodules {
			if path.Clean(m.Path) == subs[i].path {
				subs[i].url = m.URL
			}
		}
		if subs[i].url == "" {
			return nil, fmt.Errorf("submodule %s has no URL in .gitmodules", subs[i].path)
		}
	}
	return subs, nil
}

// submoduleURL resolves a submodule's URL: one relative to the
// superproject ("../lib.git") is relative to its URL, as git does it.
func submoduleURL(super, sub string) (string, error) {
	if !strings.HasPrefix(sub, "./") && !strings.HasPrefix(sub, "../") {
		if err := checkTransport(sub); err != nil {
			return "", err
		}
		return sub, nil
	}
	ep, err := transport.NewEndpoint(super)
	if err != nil {
		return "", err
	}
	ep.Path = path.Join(ep.Path, sub)
	return ep.String(), nil
}

// transports are the ways initbox reaches a repository: git's
// remote-helper forms (ext::, fd::, a scheme it does not know) would run a
// program or go somewhere no flag names, and go-git reads some of them as
// something else (ext::sh -c … as ssh to a host named ext).
var transports = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "file": true}

// checkTransport refuses a repository URL that is not https://, http://,
// ssh://, git://, file://, scp-like user@host:path, or a local path.
func checkTransport(raw string) error {
	shown := clip(redact.URLString(raw))
	bad := func(why string) error {
		return fmt.Errorf("URL %q: %s; give https://, ssh://, user@host:path or a path", shown, why)
	}
	switch {
	case strings.Contains(raw, "::"):
		return bad("a git remote-helper transport")
	case strings.ContainsAny(raw, "\x00\n\r\t "):
		return bad("a control character or space")
	case strings.HasPrefix(raw, "-"):
		return bad("starts with -")
	}
	if scheme, _, ok := strings.Cut(raw, "://"); ok && !transports[strings.ToLower(scheme)] {
		return bad(fmt.Sprintf("the transport %q", scheme))
	}
	if _, err := transport.NewEndpoint(raw); err != nil {
		return fmt.Errorf("URL %q: %v", shown, redact.Scrub(err.Error()))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// sameHost tells whether two repository URLs (scheme://… or scp-like
// user@host:path) name the same protocol, host and port.
func sameHost(a, b string) bool {
	ea, erra := transport.NewEndpoint(a)
	eb, errb := transport.NewEndpoint(b)
	return erra == nil && errb == nil && ea.Protocol == eb.Protocol && ea.Host == eb.Host && port(ea) == port(eb)
}

func port(e *transport.Endpoint) int {
	if e.Port != 0 {
		return e.Port
	}
	return map[string]int{"https": 443, "http": 80, "ssh": 22}[e.Protocol]
}

func isHash(s string) bool {
	return len(s) == 40 && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// classifyGit retries what the network may heal — a connection refused,
// reset or timed out, an answer cut short, HTTP 5xx or 429 — and nothing
// else: authentication, a missing repository, a bad host key, and whatever
// the repository itself holds (a broken pack, a tree that cannot be read)
// fail at once.
func classifyGit(err error, url string) error {
	msg := fmt.Errorf("%s: %v", redact.URLString(url), redact.Scrub(err.Error()))
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return retry.Permanent(fmt.Errorf("%w; not retried: check --git-token-file or --git-ssh-key-file", msg))
	case strings.Contains(err.Error(), "knownhosts"), strings.Contains(err.Error(), "host key"):
		return retry.Permanent(fmt.Errorf("%w; not retried: the host key is not in --git-known-hosts", msg))
	case transient(err):
		return msg
	}
	return retry.Permanent(msg)
}

func transient(err error) bool {
	var ne net.Error
	var he *githttp.Err
	switch {
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &he) && he.Response != nil:
		return he.Response.StatusCode >= 500 || he.Response.StatusCode == http.StatusTooManyRequests
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "connection refused") || strings.Contains(msg, "i/o timeout")
}

// budgetKey carries a clone's byte budget to cappedTransport, which go-git
// reaches only through a client installed once for the process: the
// request's context is the one way in.
type budgetKey struct{}

func withBudget(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, budgetKey{}, n)
}

// errorBodyLimit is the most of an error answer read (go-git puts it in
// its message); refsLimit the most of a ref advertisement.
const (
	errorBodyLimit = 64 << 10
	refsLimit      = 64 << 20
)

type cappedTransport struct{ next http.RoundTripper }

func (t cappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode/100 != 2 {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, errorBodyLimit), resp.Body} // cut, not refused: it is only a message
		return resp, nil
	}
	n, ok := r.Context().Value(budgetKey{}).(int64)
	if !ok {
		n = refsLimit // ls-remote: the refs the server advertises
	}
	resp.Body = limit.ReadCloser(resp.Body, n, func() error {
		return errors.New("the repository's download is larger than --max-bytes allows; raise it if the source is trusted")
	})
	return resp, nil
}
