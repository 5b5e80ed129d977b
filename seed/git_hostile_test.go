//go:build !initbox_no_git

package seed

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/seed/git"
)

// gitPlumb runs git with stdin in a bare repository and returns its output.
func gitPlumb(t *testing.T, dir string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// hostileRepos makes, under root, repositories built to break seed; each
// is reachable as root/NAME (work tree or bare).
func hostileRepos(t *testing.T, root string) map[string]struct{ want string } {
	// Links that leave through another link, as git stores them.
	newRepo(t, filepath.Join(root, "chain"), map[string]string{"ok.txt": "x"})
	chain := filepath.Join(root, "chain")
	os.MkdirAll(filepath.Join(chain, "d"), 0o755)
	os.Symlink("..", filepath.Join(chain, "d", "l"))
	os.Symlink(strings.Repeat("d/l/", 20)+strings.Repeat("../", 20)+"etc", filepath.Join(chain, "x"))
	runGit(t, chain, "add", "-A")
	runGit(t, chain, "commit", "-q", "-m", "links")

	// A submodule whose URL is a remote-helper command.
	newRepo(t, filepath.Join(root, "ext"), map[string]string{"ok.txt": "x"})
	ext := filepath.Join(root, "ext")
	writeFile(t, filepath.Join(ext, ".gitmodules"), []byte("[submodule \"evil\"]\n\tpath = evil\n\turl = ext::sh -c touch% /tmp/initbox-pwned\n"))
	runGit(t, ext, "update-index", "--add", "--cacheinfo", "160000,"+runGit(t, ext, "rev-parse", "HEAD")+",evil")
	runGit(t, ext, "add", ".gitmodules")
	runGit(t, ext, "commit", "-q", "-m", "submodule")

	// A tree entry with an empty name, and trees nested 10,000 deep.
	bare := filepath.Join(root, "empty-name")
	os.MkdirAll(bare, 0o755)
	gitPlumb(t, bare, nil, "init", "-q", "--bare", "-b", "main")
	blob := gitPlumb(t, bare, []byte("x\n"), "hash-object", "-w", "--stdin")
	raw, _ := hexBytes(blob)
	tree := gitPlumb(t, bare, append([]byte("100644 \x00"), raw...), "hash-object", "-w", "-t", "tree", "--literally", "--stdin")
	commit := gitPlumb(t, bare, nil, "commit-tree", tree, "-m", "empty name")
	gitPlumb(t, bare, nil, "update-ref", "refs/heads/main", commit)

	deep := filepath.Join(root, "deep")
	os.MkdirAll(deep, 0o755)
	gitPlumb(t, deep, nil, "init", "-q", "--bare", "-b", "main")
	path := strings.Repeat("a/", 10000) + "f"
	gitPlumb(t, deep, []byte("commit refs/heads/main\ncommitter t <t@t> 0 +0000\ndata 1\nx\nM 100644 inline "+path+"\ndata 3\nhi\n\n"), "fast-import", "--quiet")

	// One file larger than the cap.
	newRepo(t, filepath.Join(root, "big"), map[string]string{"big.bin": strings.Repeat("B", 20<<20)})

	return map[string]struct{ want string }{
		"chain":      {`link "x"`},
		"ext":        {"a git remote-helper transport"},
		"empty-name": {"empty"},
		"deep":       {"maximum tree depth exceeded"},
		"big":        {`entry "big.bin": 20971520 bytes`},
	}
}

func hexBytes(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b, nil
}

// Repositories built to break seed — over file:// and git's own smart
// HTTP — fail at once with exit 1 and a message naming the problem; nothing
// leaves the target and the previous state stays; the ext:: submodule runs
// nothing.
func TestHostileGit(t *testing.T) {
	root := t.TempDir()
	cases := hostileRepos(t, root)
	srv, _ := gitHTTP(t, root, "tok-Hostile-1")
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "token"), []byte("tok-Hostile-1"))
	h := newHostileDir(t)
	for name, tc := range cases {
		for _, via := range []string{"file", "http"} {
			t.Run(name+"/"+via, func(t *testing.T) {
				opts := git.Options{Submodules: true}
				src := "git+file://" + filepath.Join(root, name)
				if via == "http" {
					httpName := name
					if _, err := os.Stat(filepath.Join(root, name, ".git")); err == nil {
						httpName = name + "/.git"
					}
					src, opts.TokenFile = "git+"+srv.URL+"/"+httpName, tokenFile
				}
				start := time.Now()
				err := seed(t, Config{Src: src, Target: h.target, MaxBytes: 1 << 20, Sources: gitOptions(opts)})
				if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("exit %d: %v\nwant exit 1 with %q", exitcode.Of(err), err, tc.want)
				}
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("took %v: retried what waiting cannot fix", took)
				}
				h.check(t)
			})
		}
	}
	if _, err := os.Stat("/tmp/initbox-pwned"); err == nil {
		t.Error("the ext:: submodule ran a command")
	}
}
