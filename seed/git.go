//go:build !initbox_no_git

package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/initbox/initbox/internal/redact"
	"github.com/initbox/initbox/internal/retry"
)

func init() {
	gitSource = &goGit{}
	// file:// in-process: go-git's own would run git-upload-pack, which a
	// FROM scratch image does not have.
	client.InstallProtocol("file", server.NewServer(worktreeLoader{}))
}

// worktreeLoader serves file:// repositories in process, bare or not (a
// working tree's .git).
type worktreeLoader struct{}

func (worktreeLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	if fi, err := os.Stat(filepath.Join(ep.Path, ".git")); err == nil && fi.IsDir() {
		e := *ep
		e.Path = filepath.Join(ep.Path, ".git")
		return server.DefaultLoader.Load(&e)
	}
	return server.DefaultLoader.Load(ep)
}

// goGit checks out a repository with go-git: no git binary in the image.
// The clone is shallow and in memory; the commit's tree is written entry by
// entry through the same checks as an archive's.
type goGit struct{}

func (goGit) auth(c Config) (transport.AuthMethod, error) {
	switch {
	case c.GitTokenFile != "":
		b, err := os.ReadFile(c.GitTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--git-token-file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		redact.Register(token)
		return &githttp.BasicAuth{Username: "git", Password: token}, nil
	case c.SSHKeyFile != "":
		keys, err := gitssh.NewPublicKeysFromFile("git", c.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("--ssh-key-file: %w", err)
		}
		if c.KnownHosts == "" {
			return nil, errors.New("--ssh-key-file needs --known-hosts: host keys are always checked")
		}
		cb, err := knownhosts.New(c.KnownHosts)
		if err != nil {
			return nil, fmt.Errorf("--known-hosts: %w", err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	}
	return nil, nil
}

// resolve asks the remote which commit a ref names (ls-remote), without
// cloning: a re-run whose commit is seeded already stops there. A full
// commit hash resolves to itself.
func (g goGit) resolve(ctx context.Context, c Config) (string, string, error) {
	if isHash(c.Ref) {
		return strings.ToLower(c.Ref), "", nil
	}
	auth, err := g.auth(c)
	if err != nil {
		return "", "", retry.Permanent(err)
	}
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{c.gitURL()}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", "", classifyGit(err, c.gitURL())
	}
	want := []plumbing.ReferenceName{plumbing.NewBranchReferenceName(c.Ref), plumbing.NewTagReferenceName(c.Ref), plumbing.ReferenceName(c.Ref)}
	if c.Ref == "" {
		want = []plumbing.ReferenceName{plumbing.HEAD}
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	for _, n := range want {
		r, ok := byName[n]
		if !ok {
			continue
		}
		if r.Type() == plumbing.SymbolicReference {
			if t, ok := byName[r.Target()]; ok {
				return t.Hash().String(), string(t.Name()), nil
			}
			continue
		}
		if peeled, ok := byName[plumbing.ReferenceName(string(n)+"^{}")]; ok {
			return peeled.Hash().String(), string(n), nil // an annotated tag: its commit
		}
		return r.Hash().String(), string(n), nil
	}
	return "", "", retry.Permanent(fmt.Errorf("%s: no branch or tag %q", redact.URLString(c.gitURL()), c.Ref))
}

// checkout clones the commit and writes its tree (or --subdir of it), and
// with --submodules the trees of the commits its submodules record.
func (g goGit) checkout(ctx context.Context, c Config, commit, ref string, w *writer) error {
	auth, err := g.auth(c)
	if err != nil {
		return retry.Permanent(err)
	}
	return g.writeCommit(ctx, c, c.gitURL(), auth, commit, ref, "", w, 0)
}

// maxSubmoduleDepth bounds submodules of submodules (a cycle of them).
const maxSubmoduleDepth = 8

// writeCommit clones url and writes the tree of commit under prefix.
func (g goGit) writeCommit(ctx context.Context, c Config, url string, auth transport.AuthMethod, commit, ref, prefix string, w *writer, depth int) error {
	// Without a ref (a commit hash, a submodule's commit): every branch and
	// tag, since the commit may be reachable from any of them.
	opts := &git.CloneOptions{URL: url, Auth: auth, NoCheckout: true, Tags: git.AllTags}
	if ref != "" {
		opts.ReferenceName, opts.SingleBranch, opts.Tags = plumbing.ReferenceName(ref), true, git.NoTags
		if !strings.HasPrefix(url, "file://") {
			opts.Depth = 1 // the in-process file:// server does not do shallow clones
		}
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, opts)
	if err != nil {
		return classifyGit(err, url)
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
	err = tree.Files().ForEach(func(f *object.File) error {
		e := entry{name: f.Name, mode: 0o644, size: -1}
		if prefix != "" {
			e.name = prefix + "/" + f.Name // not path.Join: the name's checks see it as it is
		}
		switch f.Mode {
		case filemode.Executable:
			e.mode = 0o755
		case filemode.Regular, filemode.Deprecated:
		case filemode.Symlink:
			target, err := f.Contents()
			if err != nil {
				return err
			}
			e.kind, e.link = symlink, target
			return w.put(e)
		default:
			return nil
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		e.kind, e.body = file, io.Reader(r)
		return w.put(e)
	})
	if err != nil || !c.Submodules {
		return permanent(err)
	}
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
		// The superproject's token or key is for its own host only.
		subAuth := auth
		if !sameHost(url, subURL) {
			subAuth = nil
		}
		// The recorded commit need not be any branch's tip: a whole clone.
		if err := g.writeCommit(ctx, c, subURL, subAuth, s.commit, "", at, w, depth+1); err != nil {
			return fmt.Errorf("submodule %s: %w", at, err) // errors.As still finds a retry.Permanent
		}
	}
	return nil
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
		if _, err := transport.NewEndpoint(sub); err != nil {
			return "", fmt.Errorf("URL %q: %w", sub, err)
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

// classifyGit: authentication and a missing repository are permanent;
// the network is retried.
func classifyGit(err error, url string) error {
	msg := fmt.Errorf("%s: %v", redact.URLString(url), redact.Scrub(err.Error()))
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return retry.Permanent(fmt.Errorf("%w; not retried: check --git-token-file or --ssh-key-file", msg))
	case errors.Is(err, transport.ErrRepositoryNotFound), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return retry.Permanent(msg)
	case errors.Is(err, exec.ErrNotFound), strings.Contains(err.Error(), "unsupported capability"):
		return retry.Permanent(msg)
	case strings.Contains(err.Error(), "knownhosts"), strings.Contains(err.Error(), "host key"):
		return retry.Permanent(fmt.Errorf("%w; not retried: the host key is not in --known-hosts", msg))
	}
	return msg
}
