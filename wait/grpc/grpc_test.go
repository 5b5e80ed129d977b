package grpc

import (
	"crypto/tls"
	"net"
	"testing"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/wait/check"
	"github.com/initbox/initbox/wait/check/checktest"
)

// serve starts a real grpc-go server; with hs, it registers the health
// service.
func serve(t *testing.T, hs *health.Server, creds credentials.TransportCredentials) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []ggrpc.ServerOption
	if creds != nil {
		opts = append(opts, ggrpc.Creds(creds))
	}
	s := ggrpc.NewServer(opts...)
	if hs != nil {
		healthpb.RegisterHealthServer(s, hs)
	}
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func TestServingStatus(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	addr := serve(t, hs, nil)
	whole := checktest.New(t, New, "grpc://"+addr)
	orders := checktest.New(t, New, "grpc://"+addr+"?service=orders.v1.Orders")

	checktest.NotReady(t, whole, "NOT_SERVING")
	checktest.NotReady(t, orders, "NOT_SERVING")
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	checktest.Ready(t, whole)
	checktest.NotReady(t, orders, "NOT_SERVING")
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	checktest.Ready(t, orders)

	checktest.NotReady(t, checktest.New(t, New, "grpc://"+addr+"?service=unknown.Svc"), "NOT_FOUND")
	hs.Shutdown() // everything NOT_SERVING, as during a graceful stop
	checktest.NotReady(t, whole, "NOT_SERVING")
}

func TestNoHealthService(t *testing.T) {
	addr := serve(t, nil, nil)
	checktest.Permanent(t, checktest.New(t, New, "grpc://"+addr), "UNIMPLEMENTED")
}

func TestNotListening(t *testing.T) {
	checktest.NotReady(t, checktest.New(t, New, "grpc://"+testnet.RefusingAddr(t)), "refused")
}

func TestTLS(t *testing.T) {
	pki := testpki.New(t, "127.0.0.1", "localhost")
	hs := health.NewServer()
	addr := serve(t, hs, credentials.NewTLS(&tls.Config{Certificates: pki.ServerTLS(false).Certificates}))
	checktest.Ready(t, checktest.New(t, New, "grpcs://"+addr, func(p *check.Params) { p.TLS = tlsconfig.Options{CAFile: pki.CAFile} }))
	checktest.Permanent(t, checktest.New(t, New, "grpcs://"+addr), "certificate")
}

func TestResponseDecoding(t *testing.T) {
	// status=SERVING after an unknown varint field 7, a string field 9, a
	// fixed64 field 10 and a fixed32 field 11: all skipped.
	msg := []byte{0x38, 0x96, 0x01, 0x4a, 0x02, 'h', 'i', 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5d, 1, 2, 3, 4, 0x08, 0x01}
	got, err := response(frame(msg))
	if err != nil || got != 1 {
		t.Fatalf("response = %d, %v", got, err)
	}
	for name, body := range map[string][]byte{
		"short":      {0, 0},
		"compressed": {1, 0, 0, 0, 0},
		"truncated":  {0, 0, 0, 0, 9, 0x08},
		"bad field":  frame([]byte{0x0a, 0x05, 'x'}),
	} {
		if _, err := response(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := request("a.B"); string(got) != "\x0a\x03a.B" {
		t.Errorf("request = %q", got)
	}
}

func TestNewErrors(t *testing.T) {
	checktest.BadURLs(t, New, map[string]string{
		"grpc://api":              "no default port",
		"grpc://api:9090/x":       "no path",
		"grpc://api:9090?svc=a.B": `unknown query parameter "svc"`,
	})
}
