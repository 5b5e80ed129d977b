// Package testnet holds the network helpers tests share.
//
//	addr := testnet.ClosedAddr(t, "tcp", "127.0.0.1") // nothing listens there
//	go testnet.AcceptAndClose(ln)                      // a port that is "open"
package testnet

import (
	"fmt"
	"net"
	"syscall"
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

// RefusingAddr returns 127.0.0.1:port where a connection is refused for as
// long as the test runs: the port is bound by a socket that never listens,
// so no other test can take it over (a closed port may be handed out again
// at once, to a listener that lets connections hang).
func RefusingAddr(tb testing.TB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
