package testserver

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// MariaDBOptions shape the test server.
type MariaDBOptions struct {
	// MaxConnections, when > 0, sets max_connections.
	MaxConnections int
}

// MariaDB is a running test server; root has no password on its Unix
// socket, where SQL runs.
type MariaDB struct {
	t                         testing.TB
	as                        runAs
	bin, client               string
	dir, data, sock, errorLog string
	Port                      int
	opts                      MariaDBOptions
	proc                      *os.Process
	exited                    chan struct{}
}

// StartMariaDB installs a data directory and starts mariadbd. It is
// stopped when the test ends.
func StartMariaDB(t testing.TB, o MariaDBOptions) *MariaDB {
	t.Helper()
	m := &MariaDB{t: t, as: systemUser(t, "mysql"), Port: freePort(t), opts: o}
	m.bin = findBinary(t, "mariadb-server", "/usr/sbin/mariadbd", "/usr/sbin/mysqld")
	m.client = findBinary(t, "mariadb-client", "/usr/bin/mariadb", "/usr/bin/mysql")
	install := findBinary(t, "mariadb-server", "/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")
	m.dir = m.as.dir(t, "initbox-mariadb")
	m.data = filepath.Join(m.dir, "data")
	m.sock = filepath.Join(m.dir, "sock")
	m.errorLog = filepath.Join(m.dir, "error.log")
	args := []string{"--no-defaults", "--datadir=" + m.data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if m.as.cred != nil {
		args = append(args, "--user=mysql")
	}
	m.as.run(t, install, args...)
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start starts mariadbd and waits until it answers on its socket.
func (m *MariaDB) Start() {
	m.t.Helper()
	args := []string{"--no-defaults", "--datadir=" + m.data, "--port=" + strconv.Itoa(m.Port), "--bind-address=127.0.0.1",
		"--socket=" + m.sock, "--pid-file=" + filepath.Join(m.dir, "pid"), "--log-error=" + m.errorLog,
		"--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"}
	if m.opts.MaxConnections > 0 {
		args = append(args, fmt.Sprintf("--max-connections=%d", m.opts.MaxConnections), "--extra-max-connections=1")
	}
	if m.as.cred != nil {
		args = append(args, "--user=mysql")
	}
	cmd := m.as.command(m.bin, args...)
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.proc = cmd.Process
	m.exited = make(chan struct{})
	go func() { cmd.Wait(); close(m.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := m.as.command(m.client, "--no-defaults", "-S", m.sock, "-u", "root", "-e", "SELECT 1").Run(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mariadbd did not start:\n%s", readFile(m.errorLog))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server and waits until its port is closed.
func (m *MariaDB) Stop() {
	if m.proc == nil {
		return
	}
	m.proc.Signal(syscall.SIGTERM) // mariadbd's shutdown signal
	select {
	case <-m.exited:
	case <-time.After(60 * time.Second):
		m.proc.Kill()
		<-m.exited
	}
	m.proc = nil
}

// SQL runs statements as root on the Unix socket.
func (m *MariaDB) SQL(stmts string) {
	m.t.Helper()
	m.as.run(m.t, m.client, "--no-defaults", "-S", m.sock, "-u", "root", "-e", stmts)
}

// Socket is the server's Unix socket.
func (m *MariaDB) Socket() string { return m.sock }

// Addr is the server's host:port.
func (m *MariaDB) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.Port) }

// URL returns a mysql:// URL for user, password ("" for none) and database.
func (m *MariaDB) URL(user, password, db string) string {
	u := url.URL{Scheme: "mysql", Host: m.Addr(), Path: "/" + db}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}
