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
)

// gitRepo makes a repository with Debian's git: a branch main with two
// commits, an annotated tag v1 on the first, an executable, a link and a
// subdirectory. It returns the repository and the first commit's hash.
func gitRepo(t *testing.T) (dir, first string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed (apt-get install git; .ci/run does): %v", err)
	}
	dir = filepath.Join(t.TempDir(), "repo")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
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

// A repository over file://, by branch, annotated tag and commit; --subdir;
// modes and links kept; a re-run at the same commit does nothing.
func TestGitRefs(t *testing.T) {
	repo, first := gitRepo(t)
	src := "git+file://" + repo
	for _, tc := range []struct{ ref, want string }{{"main", "v2"}, {"", "v2"}, {"v1", "v1"}, {first, "v1"}} {
		target := filepath.Join(t.TempDir(), "www")
		if err := seed(t, Config{Src: src, Target: target, Ref: tc.ref}); err != nil {
			t.Fatalf("--ref %q: %v", tc.ref, err)
		}
		if got := readFile(t, filepath.Join(target, "public/index.html")); got != tc.want {
			t.Errorf("--ref %q: index.html = %q, want %q", tc.ref, got, tc.want)
		}
		if readFile(t, filepath.Join(target, "home")) != tc.want {
			t.Errorf("--ref %q: the link home does not lead to index.html", tc.ref)
		}
		if fi, _ := os.Stat(filepath.Join(target, "build.sh")); fi == nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("--ref %q: build.sh is not executable", tc.ref)
		}
	}
	target := filepath.Join(t.TempDir(), "www")
	if err := seed(t, Config{Src: src, Target: target, Ref: "main", Subdir: "public"}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(target, "css/site.css")) != "body{}" {
		t.Error("--subdir public: css/site.css missing")
	}
	logs := testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target, Ref: "main", Subdir: "public"}); err != nil || !strings.Contains(logs.String(), "already seeded") {
		t.Errorf("a re-run at the same commit seeded again: %v\n%s", err, logs)
	}
	err := seed(t, Config{Src: src, Target: target, Ref: "nope"})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), `no branch or tag "nope"`) {
		t.Errorf("a missing ref: %v", err)
	}
}

// Smart HTTP served by git's own http-backend, behind a token check: the
// token from --git-token-file is sent; without it, exit 1 at once; a re-run
// at the same commit only asks for the refs.
func TestGitHTTPWithToken(t *testing.T) {
	repo, _ := gitRepo(t)
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	h := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != "tok-Secret-42" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "git-upload-pack") {
			fetches.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-Secret-42\n"), 0o600)
	target := filepath.Join(t.TempDir(), "www")
	src := srv.URL + "/repo.git"
	// git-http-backend serves the repository's .git directory under this name.
	os.Symlink(filepath.Join(repo, ".git"), filepath.Join(filepath.Dir(repo), "repo.git"))
	logs := testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target, Ref: "main", GitTokenFile: tokenFile}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(target, "public/index.html")) != "v2" {
		t.Error("content differs")
	}
	n := fetches.Load()
	if err := seed(t, Config{Src: src, Target: target, Ref: "main", GitTokenFile: tokenFile}); err != nil || fetches.Load() != n {
		t.Errorf("a re-run fetched again (%d → %d): %v", n, fetches.Load(), err)
	}
	err = seed(t, Config{Src: src, Target: filepath.Join(t.TempDir(), "x"), Ref: "main"})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("without the token: %v", err)
	}
	if strings.Contains(logs.String(), "tok-Secret-42") {
		t.Error("the token was logged")
	}
}
