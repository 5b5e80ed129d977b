//go:build !initbox_no_git

package seed

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/seed/git"
	"github.com/initbox/initbox/seed/source"
)

func gitOptions(o git.Options) map[string]source.Options {
	return map[string]source.Options{"git": &o}
}

// gitRepo makes a repository with Debian's git: a branch main with two
// commits, an annotated tag v1 on the first, an executable, a link and a
// subdirectory. It returns the repository and the first commit's hash.
func gitRepo(t *testing.T) (dir, first string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed (apt-get install git; .ci/run does): %v", err)
	}
	dir = filepath.Join(t.TempDir(), "repo")
	git := func(args ...string) string { return runGit(t, dir, args...) }
	os.MkdirAll(filepath.Join(dir, "public/css"), 0o755)
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "public/index.html"), []byte("v1"), 0o644)
	os.WriteFile(filepath.Join(dir, "public/css/site.css"), []byte("body{}"), 0o644)
	os.WriteFile(filepath.Join(dir, "build.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("public/index.html", filepath.Join(dir, "home"))
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	first = git("rev-parse", "HEAD")
	git("tag", "-a", "v1", "-m", "release 1")
	os.WriteFile(filepath.Join(dir, "public/index.html"), []byte("v2"), 0o644)
	git("commit", "-q", "-am", "two")
	git("config", "http.receivepack", "false")
	return dir, first
}

// runGit runs Debian's git in dir (file:// submodules allowed: the tests
// make them).
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a repository at dir with files (name → content), committed.
func newRepo(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	runGit(t, dir, "init", "-q", "-b", "main")
	for name, body := range files {
		writeFile(t, filepath.Join(dir, name), []byte(body))
	}
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "init")
}

// With --git-submodules, a submodule (by a URL relative to the repository's)
// and its own submodule (by an absolute file:// URL) arrive at their paths
// at the commits recorded — not their branches' tips, and also when only a
// tag still reaches the commit; without it they stay out. Turning it on re-seeds the same commit.
func TestGitSubmodules(t *testing.T) {
	root := t.TempDir()
	deep, lib, super := filepath.Join(root, "deep"), filepath.Join(root, "lib"), filepath.Join(root, "super")
	newRepo(t, deep, map[string]string{"deep.txt": "deep"})
	newRepo(t, lib, map[string]string{"lib.txt": "v1"})
	runGit(t, lib, "submodule", "-q", "add", "file://"+deep, "deep")
	runGit(t, lib, "commit", "-q", "-m", "deep")
	newRepo(t, super, map[string]string{"site.txt": "site"})
	runGit(t, super, "submodule", "-q", "add", "../lib", "vendor/lib")
	runGit(t, super, "commit", "-q", "-m", "lib")
	// The commit super records stays reachable only from a tag: the branch
	// is rewritten after it.
	runGit(t, lib, "tag", "recorded")
	writeFile(t, filepath.Join(lib, "lib.txt"), []byte("v2"))
	runGit(t, lib, "commit", "-q", "-a", "--amend", "-m", "v2")

	src, target := "git+file://"+super, filepath.Join(root, "www")
	if err := seed(t, Config{Src: src, Target: target}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(target, "site.txt")) != "site" {
		t.Fatal("site.txt differs")
	}
	if _, err := os.Stat(filepath.Join(target, "vendor/lib/lib.txt")); err == nil {
		t.Fatal("a submodule arrived without --git-submodules")
	}
	if err := seed(t, Config{Src: src, Target: target, Sources: gitOptions(git.Options{Submodules: true})}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(target, "vendor/lib/lib.txt")); got != "v1" {
		t.Fatalf("vendor/lib/lib.txt = %q, want the recorded commit's v1", got)
	}
	if got := readFile(t, filepath.Join(target, "vendor/lib/deep/deep.txt")); got != "deep" {
		t.Fatalf("vendor/lib/deep/deep.txt = %q", got)
	}
	if m := readMarker(target); m == nil || !strings.HasSuffix(m.Digest, "+submodules") {
		t.Fatalf("marker %+v: want a digest that tells the submodules", m)
	}
}

// Over HTTP, a submodule on the same host gets the repository's token; one
// named by another host does not (the server refuses it), and a file://
// submodule of a remote repository is refused outright.
func TestGitSubmoduleCredentialsAndLocalURLs(t *testing.T) {
	root := t.TempDir()
	lib, super := filepath.Join(root, "lib"), filepath.Join(root, "super")
	newRepo(t, lib, map[string]string{"lib.txt": "lib"})
	newRepo(t, super, map[string]string{"site.txt": "site"})
	runGit(t, super, "submodule", "-q", "add", "../lib", "vendor/lib")
	runGit(t, super, "commit", "-q", "-m", "lib")
	srv, _ := gitHTTP(t, root, "tok-Secret-42")
	tokenFile := writeFile(t, filepath.Join(root, "token"), []byte("tok-Secret-42"))
	target := filepath.Join(root, "www")
	// .gitmodules says ../lib: relative to http://127.0.0.1:PORT/super.
	if err := seed(t, Config{Src: "git+" + srv.URL + "/super", Target: target, Sources: gitOptions(git.Options{Submodules: true, TokenFile: tokenFile})}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(target, "vendor/lib/lib.txt")) != "lib" {
		t.Fatal("vendor/lib/lib.txt differs")
	}

	for _, tc := range []struct{ url, want string }{
		{strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/lib", "authentication required"},
		{"file://" + lib, "a local URL"},
		{lib, "a local URL"}, // a bare path
	} {
		runGit(t, super, "config", "-f", ".gitmodules", "submodule.vendor/lib.url", tc.url)
		runGit(t, super, "commit", "-q", "-am", "url "+tc.url)
		err := seed(t, Config{Src: "git+" + srv.URL + "/super", Target: target, Sources: gitOptions(git.Options{Submodules: true, TokenFile: tokenFile})})
		if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("submodule at %s: %v, want exit 1 and %q", tc.url, err, tc.want)
		}
	}
}

// gitHTTP serves the repositories under root (their work trees' .git) by
// git's own http-backend, behind a token check; it counts fetches.
func gitHTTP(t *testing.T, root, token string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	h := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "git-upload-pack") {
			fetches.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &fetches
}

// A repository over file://, by branch, annotated tag and commit; --subdir;
// modes and links kept; a re-run at the same commit does nothing.
func TestGitRefs(t *testing.T) {
	repo, first := gitRepo(t)
	src := "git+file://" + repo
	for _, tc := range []struct{ ref, want string }{{"main", "v2"}, {"", "v2"}, {"v1", "v1"}, {first, "v1"}} {
		target := filepath.Join(t.TempDir(), "www")
		if err := seed(t, Config{Src: src, Target: target, Sources: gitOptions(git.Options{Ref: tc.ref})}); err != nil {
			t.Fatalf("--git-ref %q: %v", tc.ref, err)
		}
		if got := readFile(t, filepath.Join(target, "public/index.html")); got != tc.want {
			t.Errorf("--git-ref %q: index.html = %q, want %q", tc.ref, got, tc.want)
		}
		if readFile(t, filepath.Join(target, "home")) != tc.want {
			t.Errorf("--git-ref %q: the link home does not lead to index.html", tc.ref)
		}
		if fi, _ := os.Stat(filepath.Join(target, "build.sh")); fi == nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("--git-ref %q: build.sh is not executable", tc.ref)
		}
	}
	target := filepath.Join(t.TempDir(), "www")
	if err := seed(t, Config{Src: src, Target: target, Subdir: "public", Sources: gitOptions(git.Options{Ref: "main"})}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(target, "css/site.css")) != "body{}" {
		t.Error("--subdir public: css/site.css missing")
	}
	logs := testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target, Subdir: "public", Sources: gitOptions(git.Options{Ref: "main"})}); err != nil || !strings.Contains(logs.String(), "already seeded") {
		t.Errorf("a re-run at the same commit seeded again: %v\n%s", err, logs)
	}
	err := seed(t, Config{Src: src, Target: target, Sources: gitOptions(git.Options{Ref: "nope"})})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), `no branch or tag "nope"`) {
		t.Errorf("a missing ref: %v", err)
	}
}

// Smart HTTP served by git's own http-backend, behind a token check: the
// token from --git-token-file is sent; without it, exit 1 at once; a re-run
// at the same commit only asks for the refs.
func TestGitHTTPWithToken(t *testing.T) {
	repo, _ := gitRepo(t)
	srv, fetches := gitHTTP(t, filepath.Dir(repo), "tok-Secret-42")
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-Secret-42\n"), 0o600)
	target := filepath.Join(t.TempDir(), "www")
	src := srv.URL + "/repo.git"
	// git-http-backend serves the repository's .git directory under this name.
	os.Symlink(filepath.Join(repo, ".git"), filepath.Join(filepath.Dir(repo), "repo.git"))
	logs := testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target, Sources: gitOptions(git.Options{Ref: "main", TokenFile: tokenFile})}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(target, "public/index.html")) != "v2" {
		t.Error("content differs")
	}
	n := fetches.Load()
	if err := seed(t, Config{Src: src, Target: target, Sources: gitOptions(git.Options{Ref: "main", TokenFile: tokenFile})}); err != nil || fetches.Load() != n {
		t.Errorf("a re-run fetched again (%d → %d): %v", n, fetches.Load(), err)
	}
	err := seed(t, Config{Src: src, Target: filepath.Join(t.TempDir(), "x"), Sources: gitOptions(git.Options{Ref: "main"})})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("without the token: %v", err)
	}
	if strings.Contains(logs.String(), "tok-Secret-42") {
		t.Error("the token was logged")
	}
}
