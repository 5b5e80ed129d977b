package postgres

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/wait/check"
	"github.com/initbox/initbox/wait/check/checktest"
)

const appPassword = "app-Pass-w0rd!"

func withApp(t *testing.T, o testserver.PostgresOptions) *testserver.Postgres {
	t.Helper()
	pg := testserver.StartPostgres(t, o)
	pg.SQL("CREATE ROLE app LOGIN PASSWORD '" + appPassword + "'")
	pg.SQL("CREATE DATABASE app OWNER app")
	return pg
}

// Not yet, ready, stopped, restarted: the same checker follows the server.
func TestLifecycle(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	c := checktest.New(t, New, pg.URL("app", appPassword, "app"))
	checktest.Ready(t, c)
	pg.Stop()
	checktest.NotReady(t, c, "connect")
	pg.Start()
	checktest.Ready(t, c)

	checktest.NotReady(t, checktest.New(t, New, "postgres://app@"+testnet.RefusingAddr(t)+"/app"), "refused")
}

// Port open, database not accepting connections (SQLSTATE 57P03, as while
// starting up or recovering): retried, then ready once promoted. A plain
// tcp:// check would already have said "ready" here.
func TestStartingUp(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	pg.StartStandby()
	c := checktest.New(t, New, pg.URL("app", appPassword, "app"))
	checktest.NotReady(t, c, "57P03")
	pg.Promote()
	checktest.Ready(t, c)
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	err := checktest.Permanent(t, checktest.New(t, New, pg.URL("app", "wrong-Guess-123", "app")), "28P01")
	if strings.Contains(err.Error(), "wrong-Guess-123") {
		t.Errorf("the password is in the error: %v", err)
	}
	checktest.Permanent(t, checktest.New(t, New, pg.URL("nobody", "x", "app")), "28")
}

func TestPasswordFromParams(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	checktest.Ready(t, checktest.New(t, New, pg.URL("app", "", "app"), func(p *check.Params) { p.Password = appPassword }))
}

func TestMissingDatabaseIsRetried(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	c := checktest.New(t, New, pg.URL("app", appPassword, "later"))
	checktest.NotReady(t, c, "3D000")
	pg.SQL("CREATE DATABASE later OWNER app")
	checktest.Ready(t, c)
}

func TestTooManyConnectionsIsRetried(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{MaxConnections: 3})
	var held []*pgconn.PgConn
	for range 3 {
		conn, err := pgconn.Connect(t.Context(), pg.URL("app", appPassword, "app"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	c := checktest.New(t, New, pg.URL("app", appPassword, "app"))
	checktest.NotReady(t, c, "53300")
	for _, conn := range held {
		conn.Close(t.Context())
	}
	deadline := time.Now().Add(10 * time.Second)
	for checktest.Check(t, c) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the server frees the slots asynchronously
	}
	checktest.Ready(t, c)
}

func TestTLS(t *testing.T) {
	pki := testpki.New(t, "127.0.0.1", "localhost")
	pg := withApp(t, testserver.PostgresOptions{TLSCert: pki.ServerCert, TLSKey: pki.ServerKey})
	base := pg.URL("app", appPassword, "app")
	withCA := func(p *check.Params) { p.TLS = tlsconfig.Options{CAFile: pki.CAFile} }

	// --ca-file alone means verify-full with it.
	checktest.Ready(t, checktest.New(t, New, base, withCA))
	// verify-full without the CA: a verification failure, not retried.
	checktest.Permanent(t, checktest.New(t, New, base+"?sslmode=verify-full"), "certificate")
	// The URL's own settings are libpq's.
	checktest.Ready(t, checktest.New(t, New, base+"?sslmode=verify-full&sslrootcert="+url.QueryEscape(pki.CAFile)))
	// No TLS settings at all: plain text (this server allows it).
	checktest.Ready(t, checktest.New(t, New, base))
}

func TestNewErrors(t *testing.T) {
	checktest.BadURLs(t, New, map[string]string{
		"postgres:///app":                   "missing host",
		"postgres://db:5432/app?sslmode=no": "sslmode",
	})
}
