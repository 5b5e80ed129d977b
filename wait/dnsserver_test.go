package wait

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a small authoritative DNS server on UDP loopback: it speaks
// the real wire format, so Go's resolver is exercised as in production.
// Names not in its zone get NXDOMAIN.
type dnsServer struct {
	addr string
	mu   sync.Mutex
	a    map[string][]net.IP // lower-case FQDN → IPv4 addresses
	txt  map[string][]string
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	s := &dnsServer{addr: pc.LocalAddr().String(), a: map[string][]net.IP{}, txt: map[string][]string{}}
	go s.serve(pc)
	return s
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

func (s *dnsServer) setA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ip := range ips {
		s.a[fqdn(name)] = append(s.a[fqdn(name)], net.ParseIP(ip).To4())
	}
}

func (s *dnsServer) setTXT(name string, txt ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[fqdn(name)] = txt
}

// resolver returns a Go resolver that asks only this server.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
}

func (s *dnsServer) serve(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		name := strings.ToLower(q.Name.String())
		s.mu.Lock()
		a, hasA := s.a[name]
		txt, hasTXT := s.txt[name]
		s.mu.Unlock()

		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}
		if !hasA && !hasTXT {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		res := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
		switch q.Type {
		case dnsmessage.TypeA:
			for _, ip := range a {
				var r dnsmessage.AResource
				copy(r.A[:], ip)
				b.AResource(res, r)
			}
		case dnsmessage.TypeTXT:
			if len(txt) > 0 {
				b.TXTResource(res, dnsmessage.TXTResource{TXT: txt})
			}
		}
		msg, err := b.Finish()
		if err != nil {
			continue
		}
		pc.WriteTo(msg, addr)
	}
}
