package wait

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/initbox/initbox/wait/check"
)

// dnsChecker is ready when a name resolves, to any address by default or to
// at least one record of the asked type.
type dnsChecker struct {
	name, rtype, display string
	resolver             *net.Resolver
}

var _ check.Checker = (*dnsChecker)(nil)

var dnsTypes = map[string]bool{"": true, "A": true, "AAAA": true, "CNAME": true, "TXT": true, "SRV": true, "MX": true, "NS": true}

func newDNS(u *url.URL, display string) (*dnsChecker, error) {
	if u.Hostname() == "" {
		return nil, fmt.Errorf("missing name; write it as dns://db.example.internal")
	}
	if u.Port() != "" {
		return nil, fmt.Errorf("dns:// takes a name, not a port; a DNS server goes in ?server=host:port")
	}
	if err := noExtras(u, false, true); err != nil {
		return nil, err
	}
	c := &dnsChecker{name: u.Hostname(), display: display, resolver: &net.Resolver{PreferGo: true}}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "type":
			c.rtype = strings.ToUpper(v)
			if !dnsTypes[c.rtype] {
				return nil, fmt.Errorf("?type=%s: use A, AAAA, CNAME, TXT, SRV, MX or NS", v)
			}
		case "server":
			server := v
			if _, _, err := net.SplitHostPort(server); err != nil {
				server = net.JoinHostPort(v, "53")
			}
			c.resolver.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, server)
			}
		default:
			return nil, fmt.Errorf("unknown query parameter %q; dns:// takes ?type= and ?server=", k)
		}
	}
	return c, nil
}

func (c *dnsChecker) String() string { return c.display }

func (c *dnsChecker) Check(ctx context.Context) error {
	n, err := c.lookup(ctx)
	if err != nil {
		// NXDOMAIN heals when the record is created; every DNS error may.
		return check.NotReady(err)
	}
	if n == 0 {
		kind := c.rtype
		if kind == "" {
			kind = "address"
		}
		return check.NotReady(fmt.Errorf("%s has no %s record yet", c.name, kind))
	}
	return nil
}

func (c *dnsChecker) lookup(ctx context.Context) (int, error) {
	r := c.resolver
	switch c.rtype {
	case "A", "AAAA":
		network := "ip4"
		if c.rtype == "AAAA" {
			network = "ip6"
		}
		ips, err := r.LookupIP(ctx, network, c.name)
		return len(ips), err
	case "CNAME":
		cname, err := r.LookupCNAME(ctx, c.name)
		if err == nil && strings.TrimSuffix(cname, ".") == strings.TrimSuffix(c.name, ".") {
			return 0, nil // the name is canonical itself: no CNAME record
		}
		return 1, err
	case "TXT":
		txt, err := r.LookupTXT(ctx, c.name)
		return len(txt), err
	case "SRV":
		_, srv, err := r.LookupSRV(ctx, "", "", c.name)
		return len(srv), err
	case "MX":
		mx, err := r.LookupMX(ctx, c.name)
		return len(mx), err
	case "NS":
		ns, err := r.LookupNS(ctx, c.name)
		return len(ns), err
	}
	addrs, err := r.LookupHost(ctx, c.name)
	return len(addrs), err
}
