package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/clix"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/tlsconfig"
)

func TestNormalize(t *testing.T) {
	cmds := commands(&clix.Common{}, strings.NewReader(""), io.Discard, io.Discard)
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"plain", []string{"initbox", "wait", "tcp://db:1"}, []string{"initbox", "wait", "--", "tcp://db:1"}},
		{"flag after target", []string{"initbox", "wait", "tcp://db:1", "--timeout", "60s"}, []string{"initbox", "wait", "--timeout", "60s", "--", "tcp://db:1"}},
		{"flag=value after target", []string{"initbox", "wait", "tcp://db:1", "--timeout=60s", "tcp://x:2"}, []string{"initbox", "wait", "--timeout=60s", "--", "tcp://db:1", "tcp://x:2"}},
		{"bool flag does not eat the next target", []string{"initbox", "wait", "--any", "tcp://db:1"}, []string{"initbox", "wait", "--any", "--", "tcp://db:1"}},
		{"link name", []string{"/usr/local/bin/wait-for", "db:1", "--any"}, []string{"/usr/local/bin/wait-for", "wait", "--any", "--", "db:1"}},
		{"global flag before the command", []string{"initbox", "--log-format", "json", "wait", "db:1"}, []string{"initbox", "wait", "--log-format", "json", "--", "db:1"}},
		{"exec tail kept apart", []string{"initbox", "wait", "db:1", "--", "app", "--timeout", "3"}, []string{"initbox", "wait", "--", "db:1", "--", "app", "--timeout", "3"}},
		{"tail without targets", []string{"initbox", "wait", "--", "app"}, []string{"initbox", "wait", "--", "--", "app"}},
		{"help flag", []string{"initbox", "--help"}, []string{"initbox", "help"}},
		{"help command", []string{"initbox", "help", "wait"}, []string{"initbox", "help", "wait"}},
		{"version flag", []string{"initbox", "--version"}, []string{"initbox", "version"}},
		{"nothing", []string{"initbox"}, []string{"initbox"}},
		{"command help after target", []string{"initbox", "wait", "db:1", "--help"}, []string{"initbox", "wait", "--help", "--", "db:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := normalize(tc.in, cmds)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("normalize(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
	for _, bad := range [][]string{{"initbox", "frobnicate"}, {"initbox", "--log-level", "debug"}} {
		if _, _, err := normalize(bad, cmds); !exitcode.IsUsage(err) {
			t.Errorf("normalize(%q) = %v, want a usage error", bad, err)
		}
	}
}

// runMain runs Main in-process and returns the exit code and both streams.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMainExitCodes(t *testing.T) {
	refused := "tcp://" + testnet.ClosedAddr(t, "tcp", "127.0.0.1")
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string
		stderr string
	}{
		{"no command is a usage error", []string{"initbox"}, nil, 2, "", "USAGE"},
		{"help", []string{"initbox", "help"}, nil, 0, "wait-for", ""},
		{"command help", []string{"initbox", "wait", "--help"}, nil, 0, "INITBOX_WAIT_TIMEOUT", ""},
		{"version", []string{"initbox", "version"}, nil, 0, "initbox dev", ""},
		{"unknown command", []string{"initbox", "nope"}, nil, 2, "", `unknown command \"nope\"`},
		{"unknown flag", []string{"initbox", "wait", "--nope", "db:1"}, nil, 2, "", "flag provided but not defined"},
		{"bad flag value", []string{"initbox", "wait", "--timeout", "soon", "db:1"}, nil, 2, "", "invalid value"},
		{"bad environment value", []string{"initbox", "wait", "db:1"}, map[string]string{"INITBOX_WAIT_TIMEOUT": "soon"}, 2, "", "INITBOX_WAIT_TIMEOUT"},
		{"bad log format", []string{"initbox", "wait", "--log-format", "xml", "db:1"}, nil, 2, "", "--log-format"},
		{"bad target", []string{"initbox", "wait", "ftp://x:1"}, nil, 2, "", "unknown scheme"},
		{"usage errors point to help", []string{"initbox", "wait"}, nil, 2, "", "initbox wait --help"},
		{"flags after the target apply", []string{"initbox", "wait", refused, "--timeout", "200ms", "--interval", "10ms"}, nil, 124, "", "not ready: " + refused},
		{"environment sets a flag", []string{"initbox", "wait", refused}, map[string]string{"INITBOX_WAIT_TIMEOUT": "100ms"}, 124, "", "timed out"},
		{"json logs", []string{"initbox", "wait", refused, "--timeout", "100ms", "--log-format", "json"}, nil, 124, "", `"exit_code":124`},
		{"json logs before parsing", []string{"initbox", "nope"}, map[string]string{"INITBOX_LOG_FORMAT": "json"}, 2, "", `"exit_code":2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runMain(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}

func TestTerminationMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	refused := "tcp://" + testnet.ClosedAddr(t, "tcp", "127.0.0.1")
	code, _, _ := runMain(t, "initbox", "wait", "--termination-log", path, "--timeout", "100ms", refused)
	if code != exitcode.Deadline {
		t.Fatalf("exit %d", code)
	}
	msg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "wait: timed out") || !strings.Contains(string(msg), refused) || strings.Contains(string(msg), "\n") {
		t.Errorf("termination message = %q", msg)
	}

	// Through the environment, and untouched on success.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	os.Remove(path)
	t.Setenv("INITBOX_TERMINATION_LOG", path)
	if code, _, stderr := runMain(t, "initbox", "wait", ln.Addr().String()); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("termination message written on success")
	}
	if code, _, _ := runMain(t, "initbox", "nope"); code != 2 {
		t.Fatal("want exit 2")
	}
	if msg, _ := os.ReadFile(path); !strings.Contains(string(msg), "unknown command") {
		t.Errorf("usage error not in the termination message: %q", msg)
	}
}

func TestSignalContext(t *testing.T) {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	p, _ := os.FindProcess(os.Getpid())
	p.Signal(os.Interrupt)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGINT did not cancel the context")
	}
	if code := exitcode.Of(context.Cause(ctx)); code != exitcode.SIGINT {
		t.Fatalf("cause %v has exit code %d, want 130", context.Cause(ctx), code)
	}
}

// Several headers in one environment variable are separated by newlines, so
// a value with commas (Accept: a, b) stays whole.
func TestSliceFlagsFromEnvironment(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
	}))
	defer srv.Close()
	t.Setenv("INITBOX_WAIT_HEADER", "Accept: text/plain, application/json\nX-Team: core")
	if code, _, stderr := runMain(t, "initbox", "wait", srv.URL); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	h := <-got
	if h.Get("Accept") != "text/plain, application/json" || h.Get("X-Team") != "core" {
		t.Errorf("headers = %v", h)
	}
}

// Commands that may connect register the embedded roots before they start;
// render (hermetic) and version do not pay for parsing them.
func TestEmbeddedRootsOnlyWhereCommandsConnect(t *testing.T) {
	calls := 0
	embedRoots = func() { calls++ }
	t.Cleanup(func() { embedRoots = tlsconfig.EmbedRoots })
	refused := "tcp://" + testnet.ClosedAddr(t, "tcp", "127.0.0.1")
	for _, tc := range []struct {
		args  []string
		calls int
	}{
		{[]string{"initbox", "version"}, 0},
		{[]string{"initbox", "render", "-", "--out", "-"}, 0},
		{[]string{"initbox", "wait", refused, "--timeout", "50ms"}, 1},
		{[]string{"initbox", "fetch", "vault://secret/a#b", "--timeout", "50ms", "--vault-addr", "http://" + refused[len("tcp://"):]}, 1},
		{[]string{"initbox", "seed", t.TempDir(), t.TempDir()}, 1},
	} {
		calls = 0
		runMain(t, tc.args...)
		if calls != tc.calls {
			t.Errorf("%v: embedRoots called %d times, want %d", tc.args[1:], calls, tc.calls)
		}
	}
	for _, c := range commands(new(clix.Common), nil, io.Discard, io.Discard) {
		if !connects[c.Name] && c.Name != "render" && c.Name != "version" && c.Name != "run" {
			t.Errorf("command %s: say in connects whether it makes TLS connections", c.Name)
		}
	}
}

// run --watch in this process (the race detector sees its steps, each a
// Main on its own goroutine): a render step that follows an earlier one
// re-renders when it republishes, and the end of the context ends the plan
// with exit 0.
func TestRunWatchInProcess(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	values := write("values.yaml", "color: blue\n")
	write("first.tmpl", "{{ .Values.color }}")
	write("second.tmpl", "seen: {{ .Data.first }}\n")
	plan := write("plan.yaml", strings.ReplaceAll(`version: 1
steps:
  - name: first
    render: {src: DIR/first.tmpl, out: DIR/first.txt, values: DIR/values.yaml}
  - name: second
    render: {src: DIR/second.tmpl, out: DIR/second.txt, data: "first=DIR/first.txt?format=text"}
`, "DIR", dir))
	ctx, cancel := context.WithCancel(t.Context())
	var stderr testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"initbox", "run", "--watch", "--refresh", "1h", plan}, strings.NewReader(""), io.Discard, &stderr)
	}()
	second := filepath.Join(dir, "second.txt")
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s did not happen:\n%s", what, stderr.String())
			}
		}
	}
	read := func() string { b, _ := os.ReadFile(second); return string(b) }
	eventually("the first render", func() bool { return strings.Contains(stderr.String(), `msg="plan watching"`) })
	if read() != "seen: blue\n" {
		t.Fatalf("second.txt: %q", read())
	}
	os.WriteFile(values, []byte("color: green\n"), 0o644)
	eventually("the chained re-render", func() bool { return read() == "seen: green\n" })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after the end of the context\n%s", code, stderr.String())
	}
}
