package testserver

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PostgresOptions shape the test cluster.
type PostgresOptions struct {
	// MaxConnections, when > 0, sets max_connections (with no superuser
	// reserve) to exercise "too many clients".
	MaxConnections int
	// TLSCert and TLSKey, when set, turn on TLS with this server
	// certificate (PEM files, copied into the data directory).
	TLSCert, TLSKey string
	// Listen, an IP address, is where it listens besides loopback, on Port
	// if that is set; clients from Listen's /24 may log in with a password.
	Listen string
	Port   int
}

// Postgres is a running test cluster. Its superuser is "postgres" with
// password SuperPassword; SQL runs through psql as that user.
type Postgres struct {
	t       testing.TB
	as      runAs
	bin     string
	Data    string
	Port    int
	logFile string
}

// SuperPassword is the test cluster's superuser password.
const SuperPassword = "super-Secret-9"

// StartPostgres creates a cluster with initdb (scram-sha-256 for TCP) and
// starts it. It is stopped when the test ends.
func StartPostgres(t testing.TB, o PostgresOptions) *Postgres {
	t.Helper()
	pg := &Postgres{t: t, as: systemUser(t, "postgres"), Port: o.Port}
	if pg.Port == 0 {
		pg.Port = freePort(t)
	}
	pg.bin = filepath.Dir(findBinary(t, "postgresql", "/usr/lib/postgresql/*/bin/postgres", "/usr/local/pgsql/bin/postgres"))
	root := pg.as.dir(t, "initbox-pg")
	pg.Data = filepath.Join(root, "data")
	pg.logFile = filepath.Join(root, "log")
	pwfile := filepath.Join(root, "pw")
	if err := os.WriteFile(pwfile, []byte(SuperPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(pwfile, pg.as.uid, pg.as.gid)
	pg.as.run(t, filepath.Join(pg.bin, "initdb"), "-D", pg.Data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-sync")
	listen := "127.0.0.1"
	if o.Listen != "" {
		listen += "," + o.Listen
		f, err := os.OpenFile(filepath.Join(pg.Data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "host all all %s/24 scram-sha-256\n", o.Listen)
		f.Close()
	}
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '%s'\nunix_socket_directories = '%s'\nfsync = off\n", pg.Port, listen, root)
	if o.MaxConnections > 0 {
		conf += fmt.Sprintf("max_connections = %d\nsuperuser_reserved_connections = 0\n", o.MaxConnections)
	}
	if o.TLSCert != "" {
		for src, name := range map[string]string{o.TLSCert: "server.crt", o.TLSKey: "server.key"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(pg.Data, name)
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chown(dst, pg.as.uid, pg.as.gid)
		}
		conf += "ssl = on\n"
	}
	pg.appendConf(conf)
	pg.Start()
	t.Cleanup(func() { pg.Stop() })
	return pg
}

func (pg *Postgres) appendConf(s string) {
	f, err := os.OpenFile(filepath.Join(pg.Data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		pg.t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(s)
}

func (pg *Postgres) ctl(args ...string) {
	pg.t.Helper()
	out, err := pg.as.command(filepath.Join(pg.bin, "pg_ctl"), append([]string{"-D", pg.Data}, args...)...).CombinedOutput()
	if err != nil {
		pg.t.Fatalf("pg_ctl %v: %v\n%s\n%s", args, err, out, readFile(pg.logFile))
	}
}

// Start starts the server and waits until it accepts connections.
func (pg *Postgres) Start() { pg.ctl("-l", pg.logFile, "-w", "-t", "60", "start") }

// Stop stops the server (fast shutdown); stopping a stopped server is fine.
func (pg *Postgres) Stop() {
	pg.as.command(filepath.Join(pg.bin, "pg_ctl"), "-D", pg.Data, "-m", "fast", "-w", "stop").Run()
}

// StartStandby restarts the server as a standby with hot_standby off: the
// port is open and every connection is refused with SQLSTATE 57P03, as
// while a server starts up or recovers. Promote ends that.
func (pg *Postgres) StartStandby() {
	pg.Stop()
	pg.appendConf("hot_standby = off\n")
	if err := os.WriteFile(filepath.Join(pg.Data, "standby.signal"), nil, 0o600); err != nil {
		pg.t.Fatal(err)
	}
	os.Chown(filepath.Join(pg.Data, "standby.signal"), pg.as.uid, pg.as.gid)
	// -w would wait for connections that a standby without hot_standby
	// never accepts; wait for the port instead.
	pg.ctl("-l", pg.logFile, "-W", "start")
	waitPort(pg.t, pg.Addr(), 60*time.Second, func() string { return readFile(pg.logFile) })
}

// Promote turns a standby into a primary that accepts connections. A
// standby that is still starting (already answering 57P03) is not yet "in
// standby mode" for pg_ctl: that is retried.
func (pg *Postgres) Promote() {
	pg.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := pg.as.command(filepath.Join(pg.bin, "pg_ctl"), "-D", pg.Data, "-w", "promote").CombinedOutput()
		if err == nil {
			return
		}
		if !strings.Contains(string(out), "not in standby mode") || time.Now().After(deadline) {
			pg.t.Fatalf("pg_ctl promote: %v\n%s\n%s", err, out, readFile(pg.logFile))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SQL runs statements as the superuser through psql on the Unix socket.
func (pg *Postgres) SQL(stmts string) {
	pg.t.Helper()
	pg.as.run(pg.t, filepath.Join(pg.bin, "psql"), "-h", filepath.Dir(pg.Data), "-p", strconv.Itoa(pg.Port),
		"-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", stmts)
}

// Addr is the server's host:port.
func (pg *Postgres) Addr() string { return "127.0.0.1:" + strconv.Itoa(pg.Port) }

// URL returns a postgres:// URL for user, password ("" for none) and
// database.
func (pg *Postgres) URL(user, password, db string) string {
	u := url.URL{Scheme: "postgres", Host: pg.Addr(), Path: "/" + db}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// Logs returns the server log, for failure messages.
func (pg *Postgres) Logs() string { return readFile(pg.logFile) }
