// Package testnet holds the network helpers tests share.
//
//	addr := testnet.ClosedAddr(t, "tcp", "127.0.0.1") // nothing listens there
//	go testnet.AcceptAndClose(ln)                      // a port that is "open"
package testnet

import (
	"net"
	"testing"
)

// ClosedAddr returns a host:port on host that nothing listens on: a port the
// kernel just handed out and that was closed again.
func ClosedAddr(tb testing.TB, network, host string) string {
	tb.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// AcceptAndClose accepts connections on ln and closes each at once, until ln
// is closed. Run it in a goroutine.
func AcceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
