package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testnet"
)

// These tests run the real binary, as a user and the image do: built once,
// called as initbox and through a symlink named wait-for.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "initbox-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "initbox"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building initbox: %v\n%s", err, out)
		os.Exit(1)
	}
	for _, link := range []string{"wait-for", "fetch-config"} {
		if err := os.Symlink("initbox", filepath.Join(dir, link)); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func command(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), "INITBOX_TERMINATION_LOG="+filepath.Join(t.TempDir(), "termination-log"))
	return cmd
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestDispatchThroughLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, name := range []string{"wait-for", "initbox"} {
		args := []string{ln.Addr().String(), "--timeout", "5s"}
		if name == "initbox" {
			args = append([]string{"wait"}, args...)
		}
		out, err := command(t, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		if !strings.Contains(string(out), "target ready") {
			t.Errorf("%s: no ready line:\n%s", name, out)
		}
	}
	out, err := command(t, "wait-for", "--help").Output()
	if err != nil || !strings.Contains(string(out), "initbox wait") {
		t.Errorf("wait-for --help: %v\n%s", err, out)
	}
}

func TestSignalsExitWithTheirCode(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGTERM, 143, "SIGTERM"}, {syscall.SIGINT, 130, "SIGINT"}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := command(t, "initbox", "wait", "tcp://"+testnet.ClosedAddr(t, "tcp", "127.0.0.1"), "--timeout", "1m")
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Signal once the wait is under way (its first progress line).
			sc := bufio.NewScanner(stderr)
			for sc.Scan() && !strings.Contains(sc.Text(), "target not ready") {
			}
			cmd.Process.Signal(tc.sig)
			rest, _ := io.ReadAll(stderr)
			err := cmd.Wait()
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d, want %d\n%s", got, tc.code, rest)
			}
			if !strings.Contains(string(rest), "interrupted by "+tc.name) || !strings.Contains(string(rest), "connection refused") {
				t.Errorf("stderr should name the signal and the last error:\n%s", rest)
			}
		})
	}
}

func TestExecReplacesTheProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := command(t, "wait-for", ln.Addr().String(), "--", "sh", "-c", `echo "pid=$$ args=$0 $1"`, "zero", "one")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pid=%d args=zero one", cmd.Process.Pid)
	if strings.TrimSpace(string(out)) != want {
		t.Fatalf("stdout %q, want %q: the command must replace initbox (same PID)", out, want)
	}
}

func TestExecNeverRunsAfterAFailedWait(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := command(t, "wait-for", "tcp://"+testnet.ClosedAddr(t, "tcp", "127.0.0.1"), "--timeout", "200ms", "--", "touch", marker)
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 124 {
		t.Fatalf("exit %d, want 124\n%s", exitCode(err), out)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("the command ran after a failed wait")
	}
	// A command that cannot be found fails before waiting at all.
	start := time.Now()
	out, err = command(t, "wait-for", "tcp://"+testnet.ClosedAddr(t, "tcp", "127.0.0.1"), "--timeout", "1m", "--", "/nonexistent/app").CombinedOutput()
	if exitCode(err) != 2 || time.Since(start) > 30*time.Second {
		t.Fatalf("exit %d after %v, want 2 at once\n%s", exitCode(err), time.Since(start), out)
	}
}

// Canary secrets given the ways a user may give them must not appear on
// stdout, stderr or in the termination message, whatever happens.
func TestSecretsNeverPrinted(t *testing.T) {
	const fromEnv, fromFile, inURL, inQuery = "canary-ENV-5b1f0c", "canary-FILE-9d2e7a", "canary-URL-3c4d5e", "canary-QUERY-7a8b9c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Echo everything back, as a careless server might.
		w.Header().Set("X-Echo", r.Header.Get("X-Token")+r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "bad token %s %s %s", r.Header.Get("X-Token"), r.Header.Get("Authorization"), r.URL)
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(fromFile+"\n"), 0o600)

	u := strings.Replace(srv.URL, "http://", "http://user:"+inURL+"@", 1) + "/health?access_token=" + inQuery
	for _, format := range []string{"text", "json"} {
		for _, level := range []string{"info", "debug"} {
			termLog := filepath.Join(t.TempDir(), "termination-log")
			cmd := command(t, "initbox", "wait", u, "--header", "X-Token: ${TOKEN}", "--header-file", "Authorization="+tokenFile,
				"--body-regex", "never", "--log-format", format, "--log-level", level, "--termination-log", termLog, "--timeout", "2s")
			cmd.Env = append(cmd.Env, "TOKEN="+fromEnv)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if exitCode(err) != 1 {
				t.Fatalf("exit %d, want 1 (401 is not retried)\n%s", exitCode(err), stderr.String())
			}
			tl, _ := os.ReadFile(termLog)
			if len(tl) == 0 {
				t.Fatal("no termination message")
			}
			for stream, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "termination message": string(tl)} {
				for _, canary := range []string{fromEnv, fromFile, inURL, inQuery} {
					if strings.Contains(text, canary) {
						t.Errorf("%s/%s: %s leaks %s:\n%s", format, level, stream, canary, text)
					}
				}
			}
		}
	}
}

// --help must not show values taken from the environment as defaults.
func TestHelpShowsNoSecrets(t *testing.T) {
	const canary = "canary-HELP-4e5f6a"
	cmd := command(t, "initbox", "wait", "--help")
	cmd.Env = append(cmd.Env, "INITBOX_WAIT_HEADER=Authorization: Bearer "+canary, "INITBOX_WAIT_BODY="+canary,
		"INITBOX_WAIT_HEADER_FILE=X="+canary, "INITBOX_WAIT_CLIENT_KEY="+canary)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "INITBOX_WAIT_HEADER") {
		t.Fatalf("help: %v\n%s", err, out)
	}
	if strings.Contains(string(out), canary) {
		t.Fatalf("--help shows a value from the environment:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	out, err := command(t, "initbox", "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "initbox ") || !strings.Contains(string(out), "go1.") {
		t.Fatalf("version: %v %q", err, out)
	}
	out2, _ := command(t, "initbox", "--version").Output()
	if string(out2) != string(out) {
		t.Errorf("--version %q differs from version %q", out2, out)
	}
}

func TestNoArgumentsFails(t *testing.T) {
	out, err := command(t, "initbox").CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), "wait") {
		t.Fatalf("exit %d:\n%s", exitCode(err), out)
	}
}

// versionDirs counts the version directories a publish left in dir (after
// a completed run: one).
func versionDirs(t *testing.T, dir string) int {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") && e.Name() != "..data" {
			n++
		}
	}
	return n
}
