// Package testserver starts real database and cache servers from Debian's
// packages (postgresql, mariadb-server, redis-server, installed by .ci/run)
// for tests: each on a free loopback port, in a temp directory, stopped when
// the test ends. Servers that refuse to run as root run as their package's
// system user. A missing package fails the test with the package to install.
//
//	pg := testserver.StartPostgres(t, testserver.PostgresOptions{})
//	url := pg.URL("app", "app-password", "app")
package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Needs marks a test that needs a server, tool or package from outside the
// module (a Debian package, a server built by `make servers`): in the short
// tier (go test -short, make short) the test is skipped, naming what it
// needs; in make test a missing one fails it.
func Needs(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: runs in make test, not in -short", what)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runAs holds the credentials a server process runs with: the package's
// system user when the tests run as root, the current user otherwise.
type runAs struct {
	cred     *syscall.Credential
	uid, gid int
}

func systemUser(t testing.TB, name string) runAs {
	t.Helper()
	if os.Geteuid() != 0 {
		return runAs{uid: os.Getuid(), gid: os.Getgid()}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (install the server's Debian package)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return runAs{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}
}

// dir makes a temp directory the server's user owns, removed at the end.
func (r runAs) dir(t testing.TB, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chown(d, r.uid, r.gid); err != nil {
		t.Fatal(err)
	}
	return d
}

func (r runAs) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return cmd
}

// run runs a command to completion and fails the test with its output.
func (r runAs) run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := r.command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
}

// findBinary finds a server binary, trying each glob (highest version first).
func findBinary(t testing.TB, pkg string, globs ...string) string {
	t.Helper()
	Needs(t, pkg)
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode()&0o111 != 0 {
				return m
			}
		}
	}
	t.Fatalf("%s not found (apt-get install %s; make test installs it)", globs[0], pkg)
	return ""
}

// waitPort polls until addr accepts connections or the deadline passes.
func waitPort(t testing.TB, addr string, within time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server on %s did not come up within %v\n%s", addr, within, logs())
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
