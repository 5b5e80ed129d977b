// Package grpc checks a gRPC server with the standard health protocol
// (grpc.health.v1.Health/Check): ready when the answer is SERVING.
//
//	initbox wait grpc://api:9090                    # the server as a whole
//	initbox wait 'grpc://api:9090?service=orders.v1.Orders'
//	initbox wait grpcs://api:443 --ca-file /etc/ca.pem
//
// It makes the one unary call over Go's own HTTP/2 (h2c for grpc://, TLS for
// grpcs://) and encodes the two small health messages itself: grpc-go's
// health client would add 7.7 MiB (a stripped static program making one
// health call, against the same program without it; grpc v1.85.0). The
// tests run it against grpc-go's health server.
package grpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/initbox/initbox/wait/check"
)

// The health service's serving statuses (grpc/health/v1/health.proto).
var statusNames = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

type checker struct {
	endpoint, service, display string
	client                     *http.Client
}

var _ check.Checker = (*checker)(nil)

// New builds a checker for a grpc:// or grpcs:// target.
func New(ctx context.Context, p check.Params) (check.Checker, error) {
	u := p.URL
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("write it as %s://host:port (gRPC has no default port)", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%s:// takes no path; name the service with ?service=", u.Scheme)
	}
	c := &checker{display: p.Display}
	for k, vs := range u.Query() {
		if k != "service" {
			return nil, fmt.Errorf("unknown query parameter %q; %s:// takes ?service=", k, u.Scheme)
		}
		c.service = vs[len(vs)-1]
	}
	tr := &http.Transport{DisableKeepAlives: true, Protocols: new(http.Protocols)}
	scheme := "http"
	if u.Scheme == "grpcs" {
		scheme = "https"
		tr.Protocols.SetHTTP2(true)
		if p.Load {
			tc, err := p.TLS.Config(ctx)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = tc
		}
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	c.endpoint = (&url.URL{Scheme: scheme, Host: u.Host, Path: "/grpc.health.v1.Health/Check"}).String()
	c.client = &http.Client{Transport: tr}
	return c, nil
}

func (c *checker) String() string { return c.display }

func (c *checker) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(frame(request(c.service))))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	if deadline, ok := ctx.Deadline(); ok {
		// Tell the server how long we wait, as gRPC clients do.
		ms := max(1, deadlineMillis(deadline))
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(ms, 10)+"m")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return check.Transport(err, check.TLSHint)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return check.Net(err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %s from %s", resp.Status, c.endpoint)
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			return check.NotReady(err)
		}
		return fmt.Errorf("%w; not retried: is this a gRPC port?", err)
	}
	// A trailers-only response carries grpc-status in the headers.
	status := resp.Trailer.Get("Grpc-Status")
	msg := resp.Trailer.Get("Grpc-Message")
	if status == "" {
		status, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if status != "0" {
		return statusError(status, msg, c.service)
	}
	serving, err := response(body)
	if err != nil {
		return err
	}
	if serving != 1 {
		what := "the server"
		if c.service != "" {
			what = strconv.Quote(c.service)
		}
		return check.NotReady(fmt.Errorf("health of %s is %s", what, statusNames[serving]))
	}
	return nil
}

func deadlineMillis(d time.Time) int64 { return time.Until(d).Milliseconds() }

// statusError classifies a non-OK gRPC status.
func statusError(status, msg, service string) error {
	if m, err := url.PathUnescape(msg); err == nil {
		msg = m
	}
	code, err := strconv.Atoi(status)
	if err != nil {
		return fmt.Errorf("no grpc-status in the answer: is this a gRPC server?")
	}
	e := fmt.Errorf("gRPC status %d (%s): %s", code, codeName(code), msg)
	switch code {
	case 12: // UNIMPLEMENTED
		return fmt.Errorf("%w; not retried: the server does not register grpc.health.v1.Health", e)
	case 7, 16: // PERMISSION_DENIED, UNAUTHENTICATED
		return fmt.Errorf("%w; not retried", e)
	case 5: // NOT_FOUND: the health server does not know the service (yet)
		return check.NotReady(fmt.Errorf("%w; service %q is not registered with the health server (yet)", e, service))
	}
	return check.NotReady(e) // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, …
}

func codeName(c int) string {
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return "code " + strconv.Itoa(c)
}

// request encodes HealthCheckRequest{service} in protobuf: field 1, bytes.
func request(service string) []byte {
	if service == "" {
		return nil
	}
	b := []byte{0x0a}
	b = binary.AppendUvarint(b, uint64(len(service)))
	return append(b, service...)
}

// frame prefixes a message with gRPC's 5-byte header: not compressed, length.
func frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// response decodes one framed HealthCheckResponse and returns its status
// (field 1, varint). Unknown fields are skipped, as protobuf requires.
func response(body []byte) (uint64, error) {
	bad := func(why string) (uint64, error) {
		return 0, fmt.Errorf("malformed health response (%s): is this a gRPC health server?", why)
	}
	if len(body) < 5 {
		return bad("short frame")
	}
	if body[0] != 0 {
		return bad("compressed")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	msg := body[5:]
	if uint32(len(msg)) < n {
		return bad("truncated")
	}
	msg = msg[:n]
	var status uint64
	for len(msg) > 0 {
		key, k := binary.Uvarint(msg)
		if k <= 0 {
			return bad("bad field key")
		}
		msg = msg[k:]
		switch wire := key & 7; wire {
		case 0: // varint
			v, k := binary.Uvarint(msg)
			if k <= 0 {
				return bad("bad varint")
			}
			if key>>3 == 1 {
				status = v
			}
			msg = msg[k:]
		case 1: // 64-bit
			if len(msg) < 8 {
				return bad("truncated field")
			}
			msg = msg[8:]
		case 2: // length-delimited
			l, k := binary.Uvarint(msg)
			if k <= 0 || uint64(len(msg)-k) < l {
				return bad("truncated field")
			}
			msg = msg[k+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return bad("truncated field")
			}
			msg = msg[4:]
		default:
			return bad("wire type " + strconv.FormatUint(wire, 10))
		}
	}
	return status, nil
}
