package testnet

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// FreeAddr returns 127.0.0.1:PORT with a port free a moment ago, for a
// server the code under test starts (--health-addr).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Posts is a reload endpoint that records the bodies it is sent
// (--on-change-url), closed when the test ends.
type Posts struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

// RecordPosts starts a Posts.
func RecordPosts(tb testing.TB) *Posts {
	p := &Posts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.bodies = append(p.bodies, string(b))
		p.mu.Unlock()
	}))
	tb.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Bodies returns what was POSTed so far.
func (p *Posts) Bodies() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bodies)
}
