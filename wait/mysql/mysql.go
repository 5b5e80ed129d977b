// Package mysql checks that a MySQL or MariaDB server is ready: a real
// session is established (authentication included) and `SELECT 1` succeeds,
// so that "too many connections", a database not created yet and wrong
// credentials are told apart.
//
//	initbox wait 'mysql://app:${DB_PASSWORD}@mariadb:3306/app'
//	initbox wait 'mysql://app@db/app?tls=true#password-file=/run/secrets/db'
//	initbox wait 'mariadb://root@localhost/?socket=/run/mysqld/mysqld.sock'
//
// Query parameters: tls=true (verify, with --ca-file if given),
// tls=skip-verify or tls=preferred (not verified; a warning is logged),
// tls=false; socket=/path for a Unix socket. Without tls, initbox uses no TLS
// unless --ca-file, --client-cert or --server-name is given.
package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/go-sql-driver/mysql"

	"github.com/initbox/initbox/wait/check"
)

type checker struct {
	connector driver.Connector
	display   string
}

var _ check.Checker = (*checker)(nil)

// discard silences the driver's own logger, which would print to stderr
// outside initbox's log format.
type discard struct{}

func (discard) Print(...any) {}

// New builds a checker for a mysql:// or mariadb:// target.
func New(ctx context.Context, p check.Params) (check.Checker, error) {
	u := p.URL
	cfg := mysql.NewConfig()
	cfg.Logger = discard{}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	if p.Password != "" {
		cfg.Passwd = p.Password
	}
	cfg.DBName = trimSlash(u.Path)
	cfg.Net, cfg.Addr = "tcp", u.Host
	if u.Port() == "" && u.Host != "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	tlsMode := ""
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "socket":
			cfg.Net, cfg.Addr = "unix", v
		case "tls":
			tlsMode = v
			switch v {
			case "true", "skip-verify", "preferred", "false":
			default:
				return nil, fmt.Errorf("?tls=%s: use true, skip-verify, preferred or false", v)
			}
		default:
			return nil, fmt.Errorf("unknown query parameter %q; mysql:// takes ?tls= and ?socket=", k)
		}
	}
	if cfg.Addr == "" {
		return nil, errors.New("missing host; write it as mysql://user@host:3306/database (or ?socket=/path)")
	}
	if cfg.User == "" {
		return nil, errors.New("missing user; write it as mysql://user@host:3306/database")
	}
	if p.Load {
		switch {
		case tlsMode == "true" || (tlsMode == "" && p.TLS.Given()):
			tc, err := p.TLS.ConfigFor(ctx, u.Hostname())
			if err != nil {
				return nil, err
			}
			cfg.TLS = tc
		case tlsMode == "skip-verify" || tlsMode == "preferred":
			slog.WarnContext(ctx, "TLS to the database is not verified (tls="+tlsMode+"); use tls=true", "target", p.Display)
			cfg.TLSConfig = tlsMode
		}
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, errors.New(check.Scrubbed(err))
	}
	return &checker{connector: connector, display: p.Display}, nil
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

func (c *checker) String() string { return c.display }

func (c *checker) Check(ctx context.Context) error {
	conn, err := c.connector.Connect(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return errors.New("the MySQL driver cannot run queries") // not reached with go-sql-driver/mysql
	}
	rows, err := q.QueryContext(ctx, "SELECT 1", nil)
	if err != nil {
		return classify(err)
	}
	return rows.Close()
}

// classify tells what waiting can fix from what it cannot, by error number.
func classify(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return check.Net(err)
	}
	switch me.Number {
	case 1045, 1698: // ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
		return fmt.Errorf("%w; not retried: check the user and password (#password-file, --password-file or ${VAR} in the URL)", me)
	case 1044: // ER_DBACCESS_DENIED_ERROR
		return fmt.Errorf("%w; not retried: grant the user access to the database", me)
	case 1130: // ER_HOST_NOT_PRIVILEGED
		return fmt.Errorf("%w; not retried: the user may not connect from this host", me)
	case 1129: // ER_HOST_IS_BLOCKED
		return fmt.Errorf("%w; not retried: run FLUSH HOSTS on the server", me)
	case 1049: // ER_BAD_DB_ERROR: an init step may still create it
		return check.NotReady(fmt.Errorf("%w; waiting for it to be created", me))
	}
	// 1040 too many connections, 1053 shutdown in progress, …
	return check.NotReady(me)
}
