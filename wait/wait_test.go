package wait

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/tlsconfig"
)

// fast returns a Config that retries quickly, so that tests of "not ready
// yet" take milliseconds, with a deadline that only a hang would reach.
func fast(targets ...string) Config {
	return Config{
		Targets:        targets,
		Timeout:        10 * time.Second,
		AttemptTimeout: 2 * time.Second,
		Interval:       5 * time.Millisecond,
		MaxInterval:    20 * time.Millisecond,
	}
}

// run runs Run and returns what it logged.
func run(t *testing.T, ctx context.Context, c Config) (string, error) {
	t.Helper()
	logs := testlog.Capture(t)
	err := Run(ctx, c)
	return logs.String(), err
}

// listenLater opens a TCP listener on addr after d, accepting and closing
// connections until the test ends. It reports when it listens.
func listenLater(t *testing.T, network, addr string, d time.Duration) <-chan time.Time {
	t.Helper()
	opened := make(chan time.Time, 1)
	timer := time.AfterFunc(d, func() {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Errorf("listen %s: %v", addr, err)
			return
		}
		opened <- time.Now()
		t.Cleanup(func() { ln.Close() })
		go testnet.AcceptAndClose(ln)
	})
	t.Cleanup(func() { timer.Stop() })
	return opened
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if got := exitcode.Of(err); got != code {
		t.Fatalf("exit code %d (err: %v), want %d", got, err, code)
	}
}

type targetCode struct {
	url  string
	code int
}

// expectCodes waits for each target alone, briefly, and checks the exit
// code: 0 for a target that is ready now, 124 for one that is not.
func expectCodes(t *testing.T, cases []targetCode) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			c := fast(tc.url)
			c.Timeout = 300 * time.Millisecond
			_, err := run(t, t.Context(), c)
			wantCode(t, err, tc.code)
		})
	}
}

func TestTCPReadyWhenListenerOpens(t *testing.T) {
	for _, tc := range []struct{ name, network, host, scheme string }{
		{"ipv4", "tcp4", "127.0.0.1", "tcp://"},
		{"ipv6", "tcp6", "::1", "tcp://"},
		{"bare host:port", "tcp4", "127.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testnet.ClosedAddr(t, tc.network, tc.host)
			opened := listenLater(t, tc.network, addr, 100*time.Millisecond)
			logs, err := run(t, t.Context(), fast(tc.scheme+addr))
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, logs)
			}
			select {
			case <-opened:
			default:
				t.Fatal("Run returned before the listener opened")
			}
			if !strings.Contains(logs, "target ready") || !strings.Contains(logs, "connection refused") {
				t.Errorf("logs lack the ready line or the earlier refusal:\n%s", logs)
			}
		})
	}
}

func TestTimeoutNamesEveryTargetAndLastError(t *testing.T) {
	refused := testnet.RefusingAddr(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ok := httptest.NewServer(http.NotFoundHandler())
	defer ok.Close()

	c := fast("tcp://"+refused, srv.URL+"/health", "file:///nonexistent/initbox-test")
	c.Timeout = time.Second // each target gets attempts in, even on a loaded machine
	start := time.Now()
	_, err := run(t, t.Context(), c)
	wantCode(t, err, exitcode.Deadline)
	msg := err.Error()
	for _, want := range []string{"not ready: tcp://" + refused + " (", "connection refused", "; " + srv.URL + "/health (", "HTTP 503", "; file:///nonexistent/initbox-test (", "does not exist"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v for a 1s timeout", took)
	}
}

func TestPerTargetTimeoutFailsTheWaitAndNamesTheOthers(t *testing.T) {
	a := testnet.ClosedAddr(t, "tcp", "127.0.0.1")
	b := testnet.ClosedAddr(t, "tcp", "127.0.0.1")
	c := fast("tcp://"+a+"#timeout=100ms", "tcp://"+b)
	c.Timeout = time.Minute
	start := time.Now()
	_, err := run(t, t.Context(), c)
	wantCode(t, err, exitcode.Deadline)
	if time.Since(start) > 10*time.Second {
		t.Fatal("the per-target timeout did not end the wait")
	}
	if !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Errorf("message should name both targets still not ready: %v", err)
	}
}

func TestAny(t *testing.T) {
	never := testnet.ClosedAddr(t, "tcp", "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := fast("tcp://"+never, "tcp://"+ln.Addr().String())
	c.Any = true
	c.Timeout = time.Minute
	if logs, err := run(t, t.Context(), c); err != nil {
		t.Fatalf("--any with one ready target: %v\n%s", err, logs)
	}

	c = fast("tcp://"+never, "tcp://"+testnet.ClosedAddr(t, "tcp", "127.0.0.1"))
	c.Any, c.Timeout = true, 200*time.Millisecond
	_, err = run(t, t.Context(), c)
	wantCode(t, err, exitcode.Deadline)
}

func TestOptionalTargets(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	missing := testnet.ClosedAddr(t, "tcp", "127.0.0.1")

	t.Run("abandoned when the required ones are ready", func(t *testing.T) {
		c := fast("tcp://"+ln.Addr().String(), "tcp://"+missing+"#optional")
		c.Timeout = time.Minute
		start := time.Now()
		logs, err := run(t, t.Context(), c)
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("an optional target delayed the wait")
		}
		if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, missing) {
			t.Errorf("no warning naming the optional target:\n%s", logs)
		}
	})
	t.Run("own timeout is waited for, then warns", func(t *testing.T) {
		c := fast("tcp://"+ln.Addr().String(), "tcp://"+missing+"#optional,timeout=150ms")
		start := time.Now()
		logs, err := run(t, t.Context(), c)
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) < 150*time.Millisecond {
			t.Error("returned before the optional target's own timeout")
		}
		if !strings.Contains(logs, "optional target not ready") {
			t.Errorf("no warning:\n%s", logs)
		}
	})
	t.Run("optional and ready", func(t *testing.T) {
		c := fast("tcp://" + ln.Addr().String() + "#optional")
		if _, err := run(t, t.Context(), c); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStable(t *testing.T) {
	// The server flaps: up for one check, then down, then up for good.
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c := fast(srv.URL)
	c.Stable = 3
	if logs, err := run(t, t.Context(), c); err != nil {
		t.Fatalf("err = %v\n%s", err, logs)
	}
	// 1 ok, 2 fails (count resets), then 3 in a row.
	if got := n.Load(); got != 5 {
		t.Errorf("%d checks, want 5 (one success, one failure, three successes)", got)
	}

	n.Store(0)
	c = fast(srv.URL + "#stable=2")
	c.Stable = 5 // the per-target option wins
	n.Store(10)  // no more flapping
	if _, err := run(t, t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := n.Load() - 10; got != 2 {
		t.Errorf("%d checks, want 2 (#stable=2 overrides --stable 5)", got)
	}
}

func TestHTTP(t *testing.T) {
	pki := testpki.New(t, "localhost", "127.0.0.1")
	type request struct {
		path, method, body, auth string
	}
	var mu sync.Mutex
	var requests []request
	mux := http.NewServeMux()
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests = append(requests, request{r.URL.Path, r.Method, string(b), r.Header.Get("Authorization")})
		mu.Unlock()
	}
	var calls atomic.Int32
	mux.HandleFunc("/warming", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"status":"UP","checks":[{"name":"db","ok":true}],"count":3,"key.with.dots":"x"}`)
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"UP","checks":[{"name":"db","ok":true},{"name":"cache","ok":false}],"count":3,"key.with.dots":"x","nothing":null}`)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"DOWN"}`)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusFound)
	})
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.Header.Get("Authorization") != "Bearer s3cret-token" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("/unimplemented", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotImplemented)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	var limited atomic.Int32
	mux.HandleFunc("/limited", func(w http.ResponseWriter, r *http.Request) {
		if limited.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.TLS = pki.ServerTLS(false)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("Bearer s3cret-token\n"), 0o600)
	t.Setenv("INITBOX_TEST_TOKEN", "s3cret-token")

	tests := []struct {
		name     string
		url      string
		mod      func(*Config)
		code     int
		contains string // in the error
	}{
		{"retries 503 until 2xx", srv.URL + "/warming", nil, 0, ""},
		{"404 is retried until the deadline", srv.URL + "/missing", nil, exitcode.Deadline, "HTTP 404"},
		{"status list accepts 404", srv.URL + "/missing", func(c *Config) { c.HTTP.Status = "200,404" }, 0, ""},
		{"redirect not followed: 302 is not 2xx", srv.URL + "/redirect", nil, exitcode.Deadline, "HTTP 302"},
		{"redirect not followed: 3xx accepted", srv.URL + "/redirect", func(c *Config) { c.HTTP.Status = "3xx" }, 0, ""},
		{"redirect followed", srv.URL + "/redirect", func(c *Config) { c.HTTP.FollowRedirects = true }, 0, ""},
		{"body regex matches", srv.URL + "/json", func(c *Config) { c.HTTP.BodyRegex = `"status":\s*"UP"` }, 0, ""},
		{"body regex does not match", srv.URL + "/down", func(c *Config) { c.HTTP.BodyRegex = `UP` }, exitcode.Deadline, "--body-regex"},
		{"json value", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath, c.HTTP.JSONValue = ".status", "UP" }, 0, ""},
		{"json value differs", srv.URL + "/down", func(c *Config) { c.HTTP.JSONPath, c.HTTP.JSONValue = ".status", "UP" }, exitcode.Deadline, `.status is "DOWN", want "UP"`},
		{"json nested index", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath, c.HTTP.JSONValue = ".checks[1].name", "cache" }, 0, ""},
		{"json number", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath, c.HTTP.JSONValue = "$.count", "3" }, 0, ""},
		{"json quoted key", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath, c.HTTP.JSONValue = `."key.with.dots"`, "x" }, 0, ""},
		{"json truthy", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath = ".checks[0].ok" }, 0, ""},
		{"json false is not ready", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath = ".checks[1].ok" }, exitcode.Deadline, "is false"},
		{"json null is not ready", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath = ".nothing" }, exitcode.Deadline, "is null"},
		{"json path missing", srv.URL + "/json", func(c *Config) { c.HTTP.JSONPath = ".nope" }, exitcode.Deadline, "not in the response"},
		{"401 is not retried", srv.URL + "/auth", nil, exitcode.Failure, "not retried"},
		{"header from env", srv.URL + "/auth", func(c *Config) { c.HTTP.Headers = []string{"Authorization: Bearer ${INITBOX_TEST_TOKEN}"} }, 0, ""},
		{"header from file", srv.URL + "/auth", func(c *Config) { c.HTTP.HeaderFiles = []string{"Authorization=" + tokenFile} }, 0, ""},
		{"501 is not retried", srv.URL + "/unimplemented", nil, exitcode.Failure, "does not implement"},
		{"body makes it a POST", srv.URL + "/echo", func(c *Config) { c.HTTP.Body = `{"ping":1}` }, 0, ""},
		{"explicit method with a body file", srv.URL + "/echo", func(c *Config) {
			f := filepath.Join(t.TempDir(), "body")
			os.WriteFile(f, []byte("from file"), 0o644)
			c.HTTP.Method, c.HTTP.BodyFile = "post", f
		}, 0, ""},
		{"Retry-After is honoured", srv.URL + "/limited", func(c *Config) {
			// With an hour-long backoff only Retry-After: 0 lets the
			// second attempt come in time.
			c.Interval, c.MaxInterval = time.Hour, time.Hour
		}, 0, ""},
		{"https with the CA", tlsSrv.URL + "/json", func(c *Config) { c.TLS.CAFile = pki.CAFile }, 0, ""},
		{"https without the CA fails at once", tlsSrv.URL + "/json", nil, exitcode.Failure, "--ca-file"},
		{"https insecure", tlsSrv.URL + "/json", func(c *Config) { c.TLS.InsecureSkipVerify = true }, 0, ""},
		{"http to a TLS port fails at once", strings.Replace(tlsSrv.URL, "https", "http", 1) + "/json", nil, exitcode.Failure, "HTTP 400"},
		{"https to a plain port fails at once", strings.Replace(srv.URL, "http", "https", 1) + "/json", func(c *Config) { c.TLS.CAFile = pki.CAFile }, exitcode.Failure, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			limited.Store(0)
			c := fast(tc.url)
			c.Timeout = 300 * time.Millisecond
			if tc.code != exitcode.Deadline {
				// Ready, or failing at once: only a loaded machine could
				// reach the deadline (a TLS handshake under -race).
				c.Timeout = 10 * time.Second
			}
			if tc.mod != nil {
				tc.mod(&c)
			}
			logs, err := run(t, t.Context(), c)
			if got := exitcode.Of(err); got != tc.code {
				t.Fatalf("exit %d, want %d; err: %v\n%s", got, tc.code, err, logs)
			}
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q lacks %q", err, tc.contains)
			}
			if strings.Contains(logs+fmt.Sprint(err), "s3cret-token") {
				t.Errorf("the header secret leaked:\n%v\n%s", err, logs)
			}
		})
	}

	// The 401 must have been tried once; every POST carried the whole body.
	mu.Lock()
	defer mu.Unlock()
	var unauthorized, posts int
	for _, r := range requests {
		if r.path == "/auth" && r.auth == "" {
			unauthorized++
		}
		if r.method == http.MethodPost && r.body != `{"ping":1}` && r.body != "from file" {
			t.Errorf("POST body %q was not re-sent whole", r.body)
		}
		if r.method == http.MethodPost {
			posts++
		}
	}
	if posts != 2 {
		t.Errorf("%d POSTs, want 2", posts)
	}
	if unauthorized != 1 {
		t.Errorf("the 401 was tried %d times, want once", unauthorized)
	}
}

func TestHTTPBodyIsResentOnEveryAttempt(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := fast(srv.URL)
	c.HTTP.Method, c.HTTP.Body = "PUT", "payload"
	if _, err := run(t, t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d attempts, want 3", len(bodies))
	}
	for i, b := range bodies {
		if b != "payload" {
			t.Errorf("attempt %d sent %q", i+1, b)
		}
	}
}

// Following a redirect to another host must not carry the user's headers:
// they may be credentials.
func TestRedirectToAnotherHostDropsHeaders(t *testing.T) {
	var got atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("X-Token") + "|" + r.Header.Get("Authorization"))
	}))
	defer other.Close()
	// Same port space, other host name: 127.0.0.1 vs localhost.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "tok-123456" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.Redirect(w, r, otherURL+"/landing", http.StatusFound)
	}))
	defer first.Close()
	c := fast(first.URL)
	c.HTTP.FollowRedirects = true
	c.HTTP.Headers = []string{"X-Token: tok-123456", "Authorization: Basic abcdefgh"}
	if logs, err := run(t, t.Context(), c); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if v := got.Load(); v != "|" {
		t.Fatalf("headers reached the other host: %q", v)
	}
}

func TestHTTPAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select { // the first request hangs
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	c := fast(srv.URL)
	c.AttemptTimeout = 100 * time.Millisecond
	logs, err := run(t, t.Context(), c)
	if err != nil {
		t.Fatalf("a hung attempt must be cut and retried: %v\n%s", err, logs)
	}
	if !strings.Contains(logs, "attempt timed out after 100ms") {
		t.Errorf("logs do not show the cut attempt:\n%s", logs)
	}
}

func TestUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "ib") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "app.sock")
	opened := listenLater(t, "unix", sock, 100*time.Millisecond)
	if logs, err := run(t, t.Context(), fast("unix://"+sock)); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	<-opened

	// A socket file with no listener behind it: refused, retried.
	stale := filepath.Join(dir, "stale.sock")
	ln, _ := net.Listen("unix", stale)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	c := fast("unix://" + stale)
	c.Timeout = 200 * time.Millisecond
	_, err = run(t, t.Context(), c)
	wantCode(t, err, exitcode.Deadline)
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	full := filepath.Join(dir, "full")
	os.WriteFile(full, []byte("x"), 0o644)
	emptyDir := filepath.Join(dir, "emptydir")
	os.Mkdir(emptyDir, 0o755)
	seeded := filepath.Join(dir, "seeded")
	os.Mkdir(seeded, 0o755)
	os.WriteFile(filepath.Join(seeded, "data"), nil, 0o644)

	expectCodes(t, []targetCode{
		{"file://" + empty, 0},
		{"file://" + empty + "?nonempty", exitcode.Deadline},
		{"file://" + full + "?nonempty", 0},
		{"file://" + emptyDir, 0},
		{"file://" + emptyDir + "?nonempty=true", exitcode.Deadline},
		{"file://" + seeded + "?nonempty", 0},
		{"file://" + filepath.Join(dir, "missing"), exitcode.Deadline},
		{"file:" + full, 0},
	})

	t.Run("appears later", func(t *testing.T) {
		late := filepath.Join(dir, "late")
		timer := time.AfterFunc(50*time.Millisecond, func() { os.WriteFile(late, []byte("ok"), 0o644) })
		defer timer.Stop()
		if _, err := run(t, t.Context(), fast("file://"+late+"?nonempty")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDNS(t *testing.T) {
	dns := newDNSServer(t)
	dns.setA("db.initbox.test", "10.1.2.3")
	dns.setTXT("txt.initbox.test", "v=1")
	server := "&server=" + dns.addr
	expectCodes(t, []targetCode{
		{"dns://db.initbox.test?type=A" + server, 0},
		{"dns://db.initbox.test?server=" + dns.addr, 0},
		{"dns://txt.initbox.test?type=TXT" + server, 0},
		{"dns://db.initbox.test?type=TXT" + server, exitcode.Deadline},
		{"dns://missing.initbox.test?type=A" + server, exitcode.Deadline},
	})

	t.Run("record created later", func(t *testing.T) {
		timer := time.AfterFunc(50*time.Millisecond, func() { dns.setA("late.initbox.test", "10.0.0.9") })
		defer timer.Stop()
		if logs, err := run(t, t.Context(), fast("dns://late.initbox.test?type=A"+server)); err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
	})
}

// A tcp:// name is resolved again on every attempt: a Service or container
// whose name appears late is found without restarting the wait.
func TestTCPResolvesNameOnEveryAttempt(t *testing.T) {
	dns := newDNSServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	c := fast("tcp://db.initbox.test:" + port)
	targets, err := c.plan(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	tcp := targets[0].checker.(*tcpChecker)
	tcp.dialer.Resolver = dns.resolver()

	if err := tcp.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Fatalf("before the record exists: err = %v, want no such host", err)
	}
	timer := time.AfterFunc(50*time.Millisecond, func() { dns.setA("db.initbox.test", "127.0.0.1") })
	defer timer.Stop()
	r := targets[0].wait(t.Context(), c)
	if r.err != nil {
		t.Fatalf("wait: %v", r.err)
	}
	if r.attempts < 2 {
		t.Errorf("ready after %d attempts; the name was not re-resolved", r.attempts)
	}
}

func TestSignalCancelsWithCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	c := fast("tcp://" + testnet.ClosedAddr(t, "tcp", "127.0.0.1"))
	c.Timeout = time.Minute
	timer := time.AfterFunc(50*time.Millisecond, func() { cancel(&exitcode.Interrupted{Signal: syscall.SIGTERM}) })
	defer timer.Stop()
	_, err := run(t, ctx, c)
	wantCode(t, err, exitcode.SIGTERM)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		c      Config
		want   string
		secret string // must not appear in the error
	}{
		{"no targets", Config{}, "no targets", ""},
		{"unknown scheme", Config{Targets: []string{"ftp://x:21"}}, `unknown scheme "ftp"`, ""},
		{"no scheme", Config{Targets: []string{"db"}}, "no scheme", ""},
		{"tcp without port", Config{Targets: []string{"tcp://db"}}, "missing port", ""},
		{"tcp port out of range", Config{Targets: []string{"tcp://db:99999"}}, "1 to 65535", ""},
		{"tcp with a path", Config{Targets: []string{"tcp://db:5432/app"}}, "no path", ""},
		{"tcp with a password", Config{Targets: []string{"tcp://u:hunter2pw@db:5432"}}, "no user or password", "hunter2pw"},
		{"http without host", Config{Targets: []string{"http:///health"}}, "missing host", ""},
		{"bad URL keeps its password out", Config{Targets: []string{"http://u:pa55word@db host/"}}, "target", "pa55word"},
		{"unix relative", Config{Targets: []string{"unix://app.sock"}}, "three slashes", ""},
		{"file with host", Config{Targets: []string{"file://data/x"}}, "three slashes", ""},
		{"file bad query", Config{Targets: []string{"file:///x?size=3"}}, `unknown query parameter "size"`, ""},
		{"dns without name", Config{Targets: []string{"dns://"}}, "missing name", ""},
		{"dns bad type", Config{Targets: []string{"dns://x?type=PTR"}}, "?type=PTR", ""},
		{"unknown option", Config{Targets: []string{"tcp://db:1#retries=3"}}, "unknown option #retries", ""},
		{"bad timeout option", Config{Targets: []string{"tcp://db:1#timeout=soon"}}, "#timeout", ""},
		{"bad stable option", Config{Targets: []string{"tcp://db:1#stable=0"}}, "#stable", ""},
		{"optional with any", Config{Targets: []string{"tcp://db:1#optional"}, Any: true}, "--any", ""},
		{"bad status", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{Status: "2xx,abc"}}, "--status", ""},
		{"bad regex", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{BodyRegex: "("}}, "--body-regex", ""},
		{"bad json path", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{JSONPath: ".a["}}, "--json-path", ""},
		{"json value without path", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{JSONValue: "UP"}}, "needs --json-path", ""},
		{"body and body file", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{Body: "a", BodyFile: "b"}}, "give one", ""},
		{"bad header", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{Headers: []string{"no colon"}}}, "--header", ""},
		{"header with unset variable", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{Headers: []string{"X: ${INITBOX_UNSET_VAR_XYZ}"}}}, "INITBOX_UNSET_VAR_XYZ is not set", ""},
		{"bad header file", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{HeaderFiles: []string{"X"}}}, "Name=/path", ""},
		{"bad method", Config{Targets: []string{"http://x"}, HTTP: HTTPOptions{Method: "GE T"}}, "--method", ""},
		{"client cert without key", Config{Targets: []string{"https://x"}, TLS: tlsOptions("cert")}, "--client-key", ""},
		{"exec not found", Config{Targets: []string{"tcp://db:1"}, Exec: []string{"/nonexistent/app"}}, "not found", ""},
		{"negative stable", Config{Targets: []string{"tcp://db:1"}, Stable: -1}, "--stable", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error leaks %q: %v", tc.secret, err)
			}
			// Run reports the same problem as a usage error.
			if code := exitcode.Of(Run(t.Context(), tc.c)); code != exitcode.UsageCode {
				t.Errorf("Run exit code %d, want 2", code)
			}
		})
	}
}

func TestRunReadsFilesAsUsageErrors(t *testing.T) {
	for _, c := range []Config{
		{Targets: []string{"http://x"}, HTTP: HTTPOptions{HeaderFiles: []string{"X=/nonexistent/token"}}},
		{Targets: []string{"http://x"}, HTTP: HTTPOptions{BodyFile: "/nonexistent/body"}},
		{Targets: []string{"https://x"}, TLS: tlsOptions("ca")},
	} {
		err := Run(t.Context(), c)
		if exitcode.Of(err) != exitcode.UsageCode || !strings.Contains(err.Error(), "/nonexistent/") {
			t.Errorf("Run = %v (code %d), want a usage error naming the file", err, exitcode.Of(err))
		}
	}
}

func TestValidConfigs(t *testing.T) {
	for _, target := range []string{
		"tcp://db:5432", "db:5432", "tcp://[::1]:5432", "[::1]:5432", "tcp4://127.0.0.1:1", "tcp://db:5432#optional,timeout=30s,stable=3,attempt-timeout=1s",
		"http://api", "https://api:8443/health?full=1#timeout=1m", "unix:///run/app.sock", "file:///data?nonempty", "file:///data?nonempty=false",
		"dns://db.example.com", "dns://db.example.com?type=AAAA&server=10.0.0.10",
	} {
		if err := (Config{Targets: []string{target}}).Validate(); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
}

func TestLogsAreRedacted(t *testing.T) {
	c := fast("http://user:pw-XYZ123@" + testnet.ClosedAddr(t, "tcp", "127.0.0.1") + "/?token=tok-ABC789")
	c.Timeout = 100 * time.Millisecond
	logs, err := run(t, t.Context(), c)
	for _, leak := range []string{"pw-XYZ123", "tok-ABC789"} {
		if strings.Contains(logs, leak) || strings.Contains(err.Error(), leak) {
			t.Errorf("%q leaked:\n%v\n%s", leak, err, logs)
		}
	}
	if !strings.Contains(logs, "REDACTED") {
		t.Errorf("no redaction visible in logs:\n%s", logs)
	}
}

func tlsOptions(kind string) (o tlsconfig.Options) {
	switch kind {
	case "cert":
		o.ClientCert = "/some/cert.pem"
	case "ca":
		o.CAFile = "/nonexistent/ca.pem"
	}
	return o
}

// Two HTTP services with different health formats in one wait: each target
// can carry its own checks, overriding (or clearing) the flags.
func TestPerTargetHTTPChecks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/actuator/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"status":"UP"}`) })
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name    string
		targets []string
		mod     func(*Config)
		code    int
	}{
		{"own json check, plain neighbour", []string{srv.URL + "/actuator/health#json-path=.status,json-value=UP", srv.URL + "/plain"}, nil, 0},
		{"flag cleared for one target", []string{srv.URL + "/actuator/health", srv.URL + "/plain#json-path="},
			func(c *Config) { c.HTTP.JSONPath, c.HTTP.JSONValue = ".status", "UP" }, 0},
		{"flag applies where not overridden", []string{srv.URL + "/actuator/health", srv.URL + "/plain"},
			func(c *Config) { c.HTTP.JSONPath = ".status" }, exitcode.Deadline},
		{"own status list with an encoded comma", []string{srv.URL + "/created#status=200%2C201"}, func(c *Config) { c.HTTP.Status = "200" }, 0},
		{"own status for a 404", []string{srv.URL + "/missing#status=404"}, nil, 0},
		{"own body regex", []string{srv.URL + "/plain#body-regex=^ok$"}, nil, 0},
		{"own body regex fails", []string{srv.URL + "/plain#body-regex=^nope$"}, nil, exitcode.Deadline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fast(tc.targets...)
			c.Timeout = 300 * time.Millisecond
			if tc.code != exitcode.Deadline {
				// Ready, or failing at once: only a loaded machine could
				// reach the deadline (a TLS handshake under -race).
				c.Timeout = 10 * time.Second
			}
			if tc.mod != nil {
				tc.mod(&c)
			}
			logs, err := run(t, t.Context(), c)
			if got := exitcode.Of(err); got != tc.code {
				t.Fatalf("exit %d, want %d: %v\n%s", got, tc.code, err, logs)
			}
		})
	}
	for target, want := range map[string]string{
		srv.URL + "#json-value=UP": "#json-value needs a JSON path",
		"tcp://db:1#status=200":    "#status applies to http(s):// targets only",
		srv.URL + "#status":        "#status needs a value",
		srv.URL + "#body-regex=(":  "#body-regex",
		srv.URL + "#status=abc":    "#status=",
		srv.URL + "#json-path=.a[": "#json-path",
		srv.URL + "#timeout=%zz":   `invalid URL escape "%zz"`,
	} {
		err := Config{Targets: []string{target}}.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", target, err, want)
		}
	}
}
