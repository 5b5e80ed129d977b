package seed

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/watch"
	"github.com/initbox/initbox/seed/git"
)

// git-sync's continuous mode, over git's own smart HTTP behind a token: an
// unchanged ref costs only the ref listing, a new commit on the branch is
// published (the tree all or nothing, its commit logged), the server away
// keeps the old tree, and the next commit after it is back is published.
func TestWatchGitBranch(t *testing.T) {
	repo, _ := gitRepo(t)
	var away atomic.Bool
	srv, fetches := gitHTTP(t, filepath.Dir(repo), "tok-Secret-42")
	inner := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if away.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	})
	os.Symlink(filepath.Join(repo, ".git"), filepath.Join(filepath.Dir(repo), "repo.git"))
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-Secret-42\n"), 0o600)
	target := filepath.Join(t.TempDir(), "www")
	logs := testlog.Capture(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Src: srv.URL + "/repo.git", Target: target, Interval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Timeout: 3 * time.Second,
			Sources: gitOptions(git.Options{Ref: "main", TokenFile: tokenFile}), Watch: &watch.Options{Refresh: time.Second, Interval: 100 * time.Millisecond}})
	}()
	defer func() { cancel(); <-done }()
	index := filepath.Join(target, "public/index.html")
	content := func() string { b, _ := os.ReadFile(index); return string(b) }
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s\n%s", what, logs)
			}
		}
	}
	eventually("the first seed", func() bool { return content() == "v2" })
	n := fetches.Load()
	time.Sleep(2500 * time.Millisecond)
	if fetches.Load() != n {
		t.Errorf("an unchanged branch was fetched again (%d → %d)", n, fetches.Load())
	}
	commit := func(body string) string {
		os.WriteFile(filepath.Join(repo, "public/index.html"), []byte(body), 0o644)
		runGit(t, repo, "commit", "-q", "-am", body)
		return runGit(t, repo, "rev-parse", "HEAD")
	}
	c3 := commit("v3")
	eventually("the new commit", func() bool { return content() == "v3" })
	// The line follows the publish: wait for it, a loaded machine is slow.
	eventually("the new commit's log line", func() bool {
		return strings.Contains(logs.String(), "msg=republished") && strings.Contains(logs.String(), c3)
	})
	away.Store(true)
	commit("v4")
	eventually("a failed refresh", func() bool { return strings.Contains(logs.String(), "refresh failed; the published files are kept") })
	if content() != "v3" {
		t.Errorf("while the server was away the tree became %q", content())
	}
	away.Store(false)
	eventually("the commit after the server came back", func() bool { return content() == "v4" })
	if strings.Contains(logs.String(), "tok-Secret-42") {
		t.Error("the token was logged")
	}
}

// --watch follows a source that moves; a directory or an archive is seeded
// once, and --if-empty or --force make no sense with it.
func TestWatchUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []Config{
		{Src: dir, Target: filepath.Join(dir, "t"), Watch: &watch.Options{}},
		{Src: "git+https://example.com/a.git", Target: "/t", IfEmpty: true, Watch: &watch.Options{}},
		{Src: "git+https://example.com/a.git", Target: "/t", Watch: &watch.Options{HealthAddr: "x"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (Config{Src: "git+https://example.com/a.git", Target: "/t", Watch: &watch.Options{}}).Validate(); err != nil {
		t.Errorf("a git source: %v", err)
	}
}
