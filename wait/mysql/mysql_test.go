package mysql

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/wait/check"
)

const appPassword = "app-Pass-w0rd@:/"

func withApp(t *testing.T, o testserver.MariaDBOptions) *testserver.MariaDB {
	t.Helper()
	m := testserver.StartMariaDB(t, o)
	m.SQL("CREATE DATABASE app; CREATE USER 'app'@'%' IDENTIFIED BY '" + appPassword + "'; GRANT ALL ON app.* TO 'app'@'%'; GRANT ALL ON later.* TO 'app'@'%'")
	return m
}

func newChecker(t *testing.T, raw string, mod ...func(*check.Params)) check.Checker {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := check.Params{URL: u, Display: raw, Load: true}
	for _, f := range mod {
		f(&p)
	}
	c, err := New(t.Context(), p)
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return c
}

func checkErr(t *testing.T, c check.Checker) error {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return c.Check(ctx)
}

func want(t *testing.T, c check.Checker, ready, notReady bool, contains string) error {
	t.Helper()
	err := checkErr(t, c)
	switch {
	case ready && err != nil:
		t.Fatalf("Check = %v, want ready", err)
	case !ready && (err == nil || check.IsNotReady(err) != notReady || !strings.Contains(err.Error(), contains)):
		t.Fatalf("Check = %v, want NotReady=%v containing %q", err, notReady, contains)
	}
	return err
}

func TestLifecycle(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	c := newChecker(t, m.URL("app", appPassword, "app"))
	want(t, c, true, false, "")
	m.Stop()
	want(t, c, false, true, "connect")
	m.Start()
	want(t, c, true, false, "")
	want(t, newChecker(t, "mysql://app@"+testnet.ClosedAddr(t, "tcp", "127.0.0.1")+"/app"), false, true, "refused")
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	err := want(t, newChecker(t, m.URL("app", "wrong-Guess-123", "app")), false, false, "1045")
	if strings.Contains(err.Error(), "wrong-Guess-123") {
		t.Errorf("the password is in the error: %v", err)
	}
	m.SQL("CREATE DATABASE other; CREATE USER 'limited'@'%' IDENTIFIED BY 'pw-limited'")
	want(t, newChecker(t, m.URL("limited", "pw-limited", "other")), false, false, "1044")
}

func TestPasswordFromParams(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	want(t, newChecker(t, m.URL("app", "", "app"), func(p *check.Params) { p.Password = appPassword }), true, false, "")
}

func TestMissingDatabaseIsRetried(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	c := newChecker(t, m.URL("app", appPassword, "later"))
	want(t, c, false, true, "1049")
	m.SQL("CREATE DATABASE later")
	want(t, c, true, false, "")
}

func TestTooManyConnectionsIsRetried(t *testing.T) {
	// MariaDB raises max_connections to at least 10; hold what it allows.
	m := withApp(t, testserver.MariaDBOptions{MaxConnections: 10})
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "app", appPassword, "tcp", m.Addr(), "app"
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var limit int
	if err := db.QueryRowContext(t.Context(), "SELECT @@max_connections").Scan(&limit); err != nil {
		t.Fatal(err)
	}
	var held []*sql.Conn
	for range limit {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	c := newChecker(t, m.URL("app", appPassword, "app"))
	want(t, c, false, true, "1040")
	for _, conn := range held {
		conn.Close()
	}
	db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for checkErr(t, c) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the server frees the slots asynchronously
	}
	want(t, c, true, false, "")
}

func TestUnixSocket(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	u, _ := url.Parse(m.URL("app", appPassword, "app"))
	u.Host = "localhost"
	q := url.Values{"socket": {m.Socket()}}
	u.RawQuery = q.Encode()
	want(t, newChecker(t, u.String()), true, false, "")
}

func TestNewErrors(t *testing.T) {
	for raw, wantErr := range map[string]string{
		"mysql:///app":               "missing host",
		"mysql://db:3306/app":        "missing user",
		"mysql://u@db/app?tls=yes":   "?tls=yes",
		"mysql://u@db/app?charset=x": `unknown query parameter "charset"`,
	} {
		u, _ := url.Parse(raw)
		_, err := New(t.Context(), check.Params{URL: u, Display: raw})
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("New(%s) = %v, want %q", raw, err, wantErr)
		}
	}
}
