package testserver

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisOptions shape the test server.
type RedisOptions struct {
	// Password, when set, is required (requirepass).
	Password string
	// Users are ACL rules, e.g. "app on >secret ~* +@all".
	Users []string
	// TLSCert, TLSKey and TLSCA turn on TLS only (the plain port is off).
	TLSCert, TLSKey, TLSCA string
}

// Redis is a running test server.
type Redis struct {
	t       testing.TB
	bin     string
	dir     string
	Port    int
	opts    RedisOptions
	proc    *os.Process
	exited  chan struct{}
	logFile string
}

// StartRedis starts redis-server with no persistence of its own; it is
// stopped when the test ends.
func StartRedis(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	r := &Redis{t: t, opts: o, Port: freePort(t)}
	r.bin = findBinary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
	r.dir = runAs{uid: os.Getuid(), gid: os.Getgid()}.dir(t, "initbox-redis")
	r.logFile = filepath.Join(r.dir, "log")
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

func (r *Redis) args(extra ...string) []string {
	a := []string{"--bind", "127.0.0.1", "--dir", r.dir, "--save", "", "--appendonly", "no",
		"--logfile", r.logFile, "--enable-debug-command", "yes"}
	if r.opts.TLSCert != "" {
		a = append(a, "--port", "0", "--tls-port", strconv.Itoa(r.Port), "--tls-cert-file", r.opts.TLSCert,
			"--tls-key-file", r.opts.TLSKey, "--tls-ca-cert-file", r.opts.TLSCA, "--tls-auth-clients", "no")
	} else {
		a = append(a, "--port", strconv.Itoa(r.Port))
	}
	if r.opts.Password != "" {
		a = append(a, "--requirepass", r.opts.Password)
	}
	for _, u := range r.opts.Users {
		a = append(a, "--user")
		a = append(a, strings.Fields(u)...)
	}
	return append(a, extra...)
}

// Start starts the server and waits for its port.
func (r *Redis) Start(extra ...string) {
	r.t.Helper()
	cmd := runAs{}.command(r.bin, r.args(extra...)...)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.proc, r.exited = cmd.Process, make(chan struct{})
	go func() { cmd.Wait(); close(r.exited) }()
	waitPort(r.t, r.Addr(), 30*time.Second, func() string { return readFile(r.logFile) })
}

// Stop stops the server (SIGTERM: a clean shutdown, no save).
func (r *Redis) Stop() {
	if r.proc == nil {
		return
	}
	r.proc.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		r.proc.Kill()
		<-r.exited
	}
	r.proc = nil
}

// CLI runs redis-cli against the server (authenticated when a password is
// set) and returns its output.
func (r *Redis) CLI(args ...string) string {
	r.t.Helper()
	a := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(r.Port)}
	if r.opts.Password != "" {
		a = append(a, "--no-auth-warning", "-a", r.opts.Password)
	}
	if r.opts.TLSCert != "" {
		a = append(a, "--tls", "--cacert", r.opts.TLSCA)
	}
	out, err := runAs{}.command(findBinary(r.t, "redis-tools", "/usr/bin/redis-cli"), append(a, args...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// RestartLoading fills the dataset with keys, saves it, and restarts the
// server so that it loads them slowly (about 2 ms a key): while it loads,
// every command is answered with -LOADING.
func (r *Redis) RestartLoading(keys int) {
	r.t.Helper()
	r.CLI("DEBUG", "POPULATE", strconv.Itoa(keys))
	r.CLI("SAVE")
	r.Stop()
	r.Start("--key-load-delay", "2000", "--loading-process-events-interval-bytes", "1024", "--dbfilename", "dump.rdb")
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL returns a redis:// (or rediss:// with TLS) URL with optional userinfo.
func (r *Redis) URL(user, password string) string {
	u := url.URL{Scheme: "redis", Host: r.Addr()}
	if r.opts.TLSCert != "" {
		u.Scheme = "rediss"
	}
	switch {
	case password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	}
	return u.String()
}
