package wait

import (
	"context"
	"net"
	"net/url"

	"github.com/initbox/initbox/wait/check"
)

// tcpChecker is ready when a TCP connection opens. The name is resolved again
// on every attempt, so a Service or container that appears late is found.
type tcpChecker struct {
	network, addr, display string
	dialer                 net.Dialer
}

var _ check.Checker = (*tcpChecker)(nil)

func newTCP(u *url.URL, display string) (*tcpChecker, error) {
	addr, err := hostPort(u)
	if err != nil {
		return nil, err
	}
	if err := noExtras(u, false, false); err != nil {
		return nil, err
	}
	return &tcpChecker{network: u.Scheme, addr: addr, display: display}, nil
}

func (c *tcpChecker) String() string { return c.display }

func (c *tcpChecker) Check(ctx context.Context) error {
	conn, err := c.dialer.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return check.Net(err)
	}
	return conn.Close()
}
