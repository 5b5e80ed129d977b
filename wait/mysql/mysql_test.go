package mysql

import (
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/wait/check"
	"github.com/initbox/initbox/wait/check/checktest"
)

const appPassword = "app-Pass-w0rd@:/"

func withApp(t *testing.T, o testserver.MariaDBOptions) *testserver.MariaDB {
	t.Helper()
	m := testserver.StartMariaDB(t, o)
	m.SQL("CREATE DATABASE app; CREATE USER 'app'@'%' IDENTIFIED BY '" + appPassword + "'; GRANT ALL ON app.* TO 'app'@'%'; GRANT ALL ON later.* TO 'app'@'%'")
	return m
}

func TestLifecycle(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	c := checktest.New(t, New, m.URL("app", appPassword, "app"))
	checktest.Ready(t, c)
	m.Stop()
	checktest.NotReady(t, c, "connect")
	m.Start()
	checktest.Ready(t, c)
	checktest.NotReady(t, checktest.New(t, New, "mysql://app@"+testnet.RefusingAddr(t)+"/app"), "refused")
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	err := checktest.Permanent(t, checktest.New(t, New, m.URL("app", "wrong-Guess-123", "app")), "1045")
	if strings.Contains(err.Error(), "wrong-Guess-123") {
		t.Errorf("the password is in the error: %v", err)
	}
	m.SQL("CREATE DATABASE other; CREATE USER 'limited'@'%' IDENTIFIED BY 'pw-limited'")
	checktest.Permanent(t, checktest.New(t, New, m.URL("limited", "pw-limited", "other")), "1044")
}

func TestPasswordFromParams(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	checktest.Ready(t, checktest.New(t, New, m.URL("app", "", "app"), func(p *check.Params) { p.Password = appPassword }))
}

func TestMissingDatabaseIsRetried(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	c := checktest.New(t, New, m.URL("app", appPassword, "later"))
	checktest.NotReady(t, c, "1049")
	m.SQL("CREATE DATABASE later")
	checktest.Ready(t, c)
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
	c := checktest.New(t, New, m.URL("app", appPassword, "app"))
	checktest.NotReady(t, c, "1040")
	for _, conn := range held {
		conn.Close()
	}
	db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for checktest.Check(t, c) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the server frees the slots asynchronously
	}
	checktest.Ready(t, c)
}

func TestUnixSocket(t *testing.T) {
	m := withApp(t, testserver.MariaDBOptions{})
	u, _ := url.Parse(m.URL("app", appPassword, "app"))
	u.Host = "localhost"
	q := url.Values{"socket": {m.Socket()}}
	u.RawQuery = q.Encode()
	checktest.Ready(t, checktest.New(t, New, u.String()))
}

func TestNewErrors(t *testing.T) {
	checktest.BadURLs(t, New, map[string]string{
		"mysql:///app":               "missing host",
		"mysql://db:3306/app":        "missing user",
		"mysql://u@db/app?tls=yes":   "?tls=yes",
		"mysql://u@db/app?charset=x": `unknown query parameter "charset"`,
	})
}
