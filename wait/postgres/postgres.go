// Package postgres checks that a PostgreSQL server is ready: a real session
// is established and `SELECT 1` succeeds, so that "the database system is
// starting up", "too many clients" and a wrong password are told apart.
//
//	initbox wait 'postgres://app:${PGPASSWORD}@db:5432/app'
//	initbox wait 'postgres://app@db/app?sslmode=verify-full#password-file=/run/secrets/pg'
//
// The URL is libpq's (jackc/pgx's pgconn parses it; PGPASSWORD and the other
// PG* variables work too). TLS follows sslmode; without one, initbox uses no
// TLS unless --ca-file, --client-cert or --server-name is given, and then
// verifies the server (verify-full) with those.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/initbox/initbox/wait/check"
)

type checker struct {
	cfg     *pgconn.Config
	display string
}

var _ check.Checker = (*checker)(nil)

// New builds a checker for a postgres:// or postgresql:// target.
func New(ctx context.Context, p check.Params) (check.Checker, error) {
	u := *p.URL
	q := u.Query()
	if u.Host == "" && q.Get("host") == "" {
		return nil, errors.New("missing host; write it as postgres://user@host:5432/database")
	}
	mode := q.Get("sslmode")
	switch {
	case mode == "" && p.TLS.Given():
		q.Set("sslmode", "verify-full")
	case mode == "":
		// libpq's default, prefer, is TLS without verification that falls
		// back to plain text; initbox never verifies less than it says.
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	cfg, err := pgconn.ParseConfig(u.String())
	if err != nil {
		return nil, errors.New(check.Scrubbed(err))
	}
	if p.Password != "" {
		cfg.Password = p.Password
	}
	if !p.Load {
		return &checker{cfg: cfg, display: p.Display}, nil
	}
	switch {
	case mode == "" && p.TLS.Given():
		tc, err := p.TLS.ConfigFor(ctx, cfg.Host)
		if err != nil {
			return nil, err
		}
		cfg.TLSConfig = tc
		for _, fb := range cfg.Fallbacks {
			fb.TLSConfig = tc
		}
	case mode == "allow" || mode == "prefer" || mode == "require":
		slog.WarnContext(ctx, "TLS to the database is not verified (sslmode="+mode+"); use sslmode=verify-full", "target", p.Display)
	}
	return &checker{cfg: cfg, display: p.Display}, nil
}

func (c *checker) String() string { return c.display }

func (c *checker) Check(ctx context.Context) error {
	conn, err := pgconn.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return classify(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		return classify(err)
	}
	return nil
}

// classify tells what waiting can fix from what it cannot, by SQLSTATE.
func classify(err error) error {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return check.Net(err)
	}
	msg := fmt.Errorf("%s (SQLSTATE %s)", pg.Message, pg.Code)
	switch {
	case pg.Code == "57P03": // cannot_connect_now: starting up, in recovery, standby
		return check.NotReady(msg)
	case pg.Code[:2] == "28": // invalid_authorization_specification, invalid_password
		return fmt.Errorf("%w; not retried: check the user and password (#password-file, --password-file or ${VAR} in the URL) and pg_hba.conf", msg)
	case pg.Code == "42501": // insufficient_privilege, e.g. no CONNECT on the database
		return fmt.Errorf("%w; not retried: grant the user CONNECT on the database", msg)
	case pg.Code == "3D000": // invalid_catalog_name: an init step may still create it
		return check.NotReady(fmt.Errorf("%w; waiting for it to be created", msg))
	}
	// 53300 too_many_connections, 57P01 admin_shutdown, 08xxx, …
	return check.NotReady(msg)
}
