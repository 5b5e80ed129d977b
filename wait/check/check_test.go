package check

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestNet(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		notReady bool
	}{
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}, true},
		{"timeout", context.DeadlineExceeded, true},
		{"eof", io.ErrUnexpectedEOF, true},
		{"unknown authority", fmt.Errorf("get: %w", x509.UnknownAuthorityError{}), false},
		{"permission", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EACCES)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Net(tc.err)
			if IsNotReady(got) != tc.notReady {
				t.Errorf("IsNotReady(Net(%v)) = %v, want %v", tc.err, IsNotReady(got), tc.notReady)
			}
			if !errors.Is(got, tc.err) && got.Error() != tc.err.Error() {
				t.Errorf("Net lost the error: %v", got)
			}
		})
	}
	if Net(nil) != nil || NotReady(nil) != nil {
		t.Error("nil must stay nil")
	}
}
