// Package redis checks that a Redis (or Valkey, KeyDB, …) server is ready:
// it authenticates if a password is given, selects the database if the URL
// names one, and PING is answered with PONG. "-LOADING" (the dataset is
// still loading), "-BUSY" and "-MASTERDOWN" are retried; a wrong password or
// a missing one fails at once.
//
//	initbox wait 'redis://cache:6379'
//	initbox wait 'redis://app:${REDIS_PASSWORD}@cache:6379/2'   # ACL user app, database 2
//	initbox wait 'rediss://cache:6380#password-file=/run/secrets/redis'
//
// It speaks RESP2 itself (three commands need no client library; go-redis
// v9 would add 3.5 MiB: a stripped static program making one PING, against
// the same program without it). rediss:// uses TLS, verified
// with --ca-file or the system/embedded roots.
package redis

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/initbox/initbox/wait/check"
)

type checker struct {
	addr, display string
	user, pass    string
	db            int
	tls           *tls.Config // nil for redis://
	dialer        net.Dialer
}

var _ check.Checker = (*checker)(nil)

// New builds a checker for a redis:// or rediss:// target.
func New(ctx context.Context, p check.Params) (check.Checker, error) {
	u := p.URL
	if u.Hostname() == "" {
		return nil, errors.New("missing host; write it as redis://host:6379")
	}
	c := &checker{display: p.Display, addr: u.Host, user: u.User.Username()}
	if u.Port() == "" {
		c.addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	c.pass, _ = u.User.Password()
	if p.Password != "" {
		c.pass = p.Password
	}
	if p.Load && c.user != "" && c.pass == "" { // password files are read only when loading
		// redis://:password@ is the usual form for requirepass; a name
		// alone is an ACL user that still needs its password.
		return nil, fmt.Errorf("user %q has no password: add it to the URL as ${VAR}, or use #password-file", c.user)
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("database %q is not a number; write it as redis://host:6379/2", db)
		}
		c.db = n
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("redis:// takes no query (?%s)", u.RawQuery)
	}
	if u.Scheme == "rediss" && p.Load {
		tc, err := p.TLS.ConfigFor(ctx, u.Hostname())
		if err != nil {
			return nil, err
		}
		c.tls = tc
	}
	return c, nil
}

func (c *checker) String() string { return c.display }

func (c *checker) Check(ctx context.Context) error {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return check.Net(err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return check.Net(err)
		}
		conn = tc
	}
	r := bufio.NewReader(conn)
	if c.pass != "" {
		args := []string{"AUTH", c.pass}
		if c.user != "" {
			args = []string{"AUTH", c.user, c.pass}
		}
		if _, err := roundTrip(conn, r, args...); err != nil {
			return err
		}
	}
	if c.db != 0 {
		if _, err := roundTrip(conn, r, "SELECT", strconv.Itoa(c.db)); err != nil {
			return err
		}
	}
	reply, err := roundTrip(conn, r, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q, not PONG: is this a Redis server?", clip(reply))
	}
	return nil
}

// roundTrip sends one command and reads a simple-string reply. Server
// errors are classified; the command's arguments never appear in an error.
func roundTrip(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return "", check.Net(err)
	}
	line, err := readLine(r)
	if err != nil {
		return "", err
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "", classify(args[0], line[1:])
	case '$', ':', '*':
		return "", fmt.Errorf("%s: unexpected reply %q", args[0], clip(line))
	}
	return "", fmt.Errorf("%s: the server does not speak RESP (%q): is this a Redis port?", args[0], clip(line))
}

// readLine reads one CRLF-terminated line of at most 64 KiB.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the server closed: starting or shutting down
			}
			return "", check.Net(err)
		}
		line = append(line, chunk...)
		if len(line) > 64<<10 {
			return "", errors.New("reply line longer than 64 KiB: is this a Redis port?")
		}
		if !isPrefix {
			break
		}
	}
	if len(line) == 0 {
		return "", errors.New("empty reply: is this a Redis port?")
	}
	return string(line), nil
}

// classify turns an error reply into a NotReady or a permanent error.
func classify(cmd, reply string) error {
	code, _, _ := strings.Cut(reply, " ")
	err := fmt.Errorf("%s: %s", cmd, clip(reply))
	switch code {
	case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "NOTREADY":
		return check.NotReady(err)
	case "NOAUTH":
		return fmt.Errorf("%w; not retried: the server needs a password (${VAR} in the URL, #password-file or --password-file)", err)
	case "WRONGPASS", "NOPERM":
		return fmt.Errorf("%w; not retried: check the user and password and its ACL", err)
	}
	if cmd == "AUTH" {
		return fmt.Errorf("%w; not retried: check the password (and whether the server has one)", err)
	}
	return err
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
