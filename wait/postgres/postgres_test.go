package postgres

import (
	"context"
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
)

const appPassword = "app-Pass-w0rd!"

func withApp(t *testing.T, o testserver.PostgresOptions) *testserver.Postgres {
	t.Helper()
	pg := testserver.StartPostgres(t, o)
	pg.SQL("CREATE ROLE app LOGIN PASSWORD '" + appPassword + "'")
	pg.SQL("CREATE DATABASE app OWNER app")
	return pg
}

func newChecker(t *testing.T, raw string, mod ...func(*check.Params)) check.Checker {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := check.Params{URL: u, Display: raw, Load: true}
	for _, m := range mod {
		m(&p)
	}
	c, err := New(t.Context(), p)
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return c
}

func checkErr(t *testing.T, c check.Checker) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return c.Check(ctx)
}

func wantReady(t *testing.T, c check.Checker) {
	t.Helper()
	if err := checkErr(t, c); err != nil {
		t.Fatalf("Check = %v, want ready", err)
	}
}

func wantNotReady(t *testing.T, c check.Checker, contains string) {
	t.Helper()
	err := checkErr(t, c)
	if err == nil || !check.IsNotReady(err) || !strings.Contains(err.Error(), contains) {
		t.Fatalf("Check = %v, want a NotReady error containing %q", err, contains)
	}
}

func wantPermanent(t *testing.T, c check.Checker, contains string) error {
	t.Helper()
	err := checkErr(t, c)
	if err == nil || check.IsNotReady(err) || !strings.Contains(err.Error(), contains) {
		t.Fatalf("Check = %v, want a permanent error containing %q", err, contains)
	}
	return err
}

// Not yet, ready, stopped, restarted: the same checker follows the server.
func TestLifecycle(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	c := newChecker(t, pg.URL("app", appPassword, "app"))
	wantReady(t, c)
	pg.Stop()
	wantNotReady(t, c, "connect")
	pg.Start()
	wantReady(t, c)

	wantNotReady(t, newChecker(t, "postgres://app@"+testnet.ClosedAddr(t, "tcp", "127.0.0.1")+"/app"), "refused")
}

// Port open, database not accepting connections (SQLSTATE 57P03, as while
// starting up or recovering): retried, then ready once promoted. A plain
// tcp:// check would already have said "ready" here.
func TestStartingUp(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	pg.StartStandby()
	c := newChecker(t, pg.URL("app", appPassword, "app"))
	wantNotReady(t, c, "57P03")
	pg.Promote()
	wantReady(t, c)
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	err := wantPermanent(t, newChecker(t, pg.URL("app", "wrong-Guess-123", "app")), "28P01")
	if strings.Contains(err.Error(), "wrong-Guess-123") {
		t.Errorf("the password is in the error: %v", err)
	}
	wantPermanent(t, newChecker(t, pg.URL("nobody", "x", "app")), "28")
}

func TestPasswordFromParams(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	wantReady(t, newChecker(t, pg.URL("app", "", "app"), func(p *check.Params) { p.Password = appPassword }))
}

func TestMissingDatabaseIsRetried(t *testing.T) {
	pg := withApp(t, testserver.PostgresOptions{})
	c := newChecker(t, pg.URL("app", appPassword, "later"))
	wantNotReady(t, c, "3D000")
	pg.SQL("CREATE DATABASE later OWNER app")
	wantReady(t, c)
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
	c := newChecker(t, pg.URL("app", appPassword, "app"))
	wantNotReady(t, c, "53300")
	for _, conn := range held {
		conn.Close(t.Context())
	}
	deadline := time.Now().Add(10 * time.Second)
	for checkErr(t, c) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the server frees the slots asynchronously
	}
	wantReady(t, c)
}

func TestTLS(t *testing.T) {
	pki := testpki.New(t, "127.0.0.1", "localhost")
	pg := withApp(t, testserver.PostgresOptions{TLSCert: pki.ServerCert, TLSKey: pki.ServerKey})
	base := pg.URL("app", appPassword, "app")
	withCA := func(p *check.Params) { p.TLS = tlsconfig.Options{CAFile: pki.CAFile} }

	// --ca-file alone means verify-full with it.
	wantReady(t, newChecker(t, base, withCA))
	// verify-full without the CA: a verification failure, not retried.
	wantPermanent(t, newChecker(t, base+"?sslmode=verify-full"), "certificate")
	// The URL's own settings are libpq's.
	wantReady(t, newChecker(t, base+"?sslmode=verify-full&sslrootcert="+url.QueryEscape(pki.CAFile)))
	// No TLS settings at all: plain text (this server allows it).
	wantReady(t, newChecker(t, base))
}

func TestNewErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres:///app":                   "missing host",
		"postgres://db:5432/app?sslmode=no": "sslmode",
	} {
		u, _ := url.Parse(raw)
		_, err := New(t.Context(), check.Params{URL: u, Display: raw})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%s) = %v, want %q", raw, err, want)
		}
	}
}
